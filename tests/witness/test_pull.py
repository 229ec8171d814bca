"""Pull mode against a fake ``auditlog.v1.Log`` served over real gRPC on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.proto import auditlog_pb2_grpc as pb_grpc
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.errors import Inconsistency, InconsistencyError, MalformedError
from auditlog_tlog.tree.note import add_signatures, open_note
from auditlog_tlog.witness.core import Witness
from auditlog_tlog.witness.pull import Puller
from tests.witness.helpers import MemoryArchive, TestLog, make_witness


@dataclass
class FakeLog(pb_grpc.LogServicer):  # type: ignore[misc]
    """Serves ``log`` at ``size``; keeps the cosignatures it is handed, verifying them."""

    log: TestLog
    size: int
    witness_key: CosignatureSigner
    notes: dict[int, bytes] = field(default_factory=dict)
    proof_override: tuple[int, int] | None = None

    def note(self) -> bytes:
        return self.notes.setdefault(self.size, self.log.checkpoint(self.size))

    def GetCheckpoint(self, request: Any, context: Any) -> pb.GetCheckpointResponse:
        return pb.GetCheckpointResponse(checkpoint=self.note(), size=self.size)

    def GetConsistencyProof(self, request: Any, context: Any) -> pb.GetConsistencyProofResponse:
        size1, size2 = self.proof_override or (request.size1, request.size2)
        return pb.GetConsistencyProofResponse(size1=size1, size2=size2,
                                              proof=self.log.proof(request.size1, request.size2))

    def AddCosignature(self, request: Any, context: Any) -> pb.AddCosignatureResponse:
        note = add_signatures(self.notes[request.size], request.signatures)
        open_note(note, [self.witness_key.verifier()])
        self.notes[request.size] = note
        return pb.AddCosignatureResponse(witnesses=[self.witness_key.name])


@dataclass
class Pulling:
    fake: FakeLog
    witness: Witness
    puller: Puller
    archive: MemoryArchive


@pytest.fixture
def pulling(tmp_path: Path) -> Iterator[Pulling]:
    log = TestLog()
    key = CosignatureSigner.generate("witness.example/puller")
    fake = FakeLog(log, 3, key)
    server = grpc.server(futures.ThreadPoolExecutor(2))
    pb_grpc.add_LogServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    archive = MemoryArchive()
    witness = make_witness(tmp_path, [log], archive, signer=key)
    puller = Puller(witness, log.origin, f"127.0.0.1:{port}", interval_s=0.05, timeout_s=5)
    try:
        yield Pulling(fake, witness, puller, archive)
    finally:
        puller.close()
        server.stop(None).wait()


def test_pull_cosigns_hands_back_and_then_has_nothing_to_do(pulling: Pulling) -> None:
    assert pulling.puller.poll_once() == "cosigned"
    open_note(pulling.fake.notes[3], [pulling.fake.witness_key.verifier()])
    assert pulling.puller.poll_once() == "current"
    pulling.fake.size = 10
    assert pulling.puller.poll_once() == "cosigned"
    state = pulling.witness.state_of(pulling.fake.log.origin)
    assert state is not None and (state.size, state.root) == (10, pulling.fake.log.root(10))
    assert len(pulling.archive.keys("cosigned/")) == 2


def test_pull_refuses_a_fork_and_keeps_the_evidence(pulling: Pulling) -> None:
    assert pulling.puller.poll_once() == "cosigned"
    pulling.fake.log = pulling.fake.log.fork()
    pulling.fake.size = 7
    with pytest.raises(InconsistencyError) as info:
        pulling.puller.poll_once()
    assert info.value.kind is Inconsistency.FORK
    state = pulling.witness.state_of(pulling.fake.log.origin)
    assert state is not None and state.size == 3
    assert len(pulling.archive.keys("evidence/")) == 1


def test_pull_does_nothing_when_the_log_is_behind(pulling: Pulling) -> None:
    pulling.fake.size = 5
    assert pulling.puller.poll_once() == "cosigned"
    pulling.fake.size = 4
    assert pulling.puller.poll_once() == "behind"


def test_pull_checks_the_proof_sizes_the_log_answers(pulling: Pulling) -> None:
    assert pulling.puller.poll_once() == "cosigned"
    pulling.fake.size, pulling.fake.proof_override = 6, (2, 6)
    with pytest.raises(MalformedError, match="want 3->6"):
        pulling.puller.poll_once()


def test_pull_run_polls_until_stopped(pulling: Pulling) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=pulling.puller.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        pulling.fake.size = 8
        while time.monotonic() < deadline:
            state = pulling.witness.state_of(pulling.fake.log.origin)
            if state is not None and state.size == 8:
                break
            time.sleep(0.02)
        assert state is not None and state.size == 8
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
