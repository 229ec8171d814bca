"""GetCheckpoint(cosigned=true): the latest checkpoint meeting the witness quorum, with waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.note import parse_note
from tests.servers import RunningServer, running, write_server_config

ORIGIN = "cosigned.example/log"
WITNESS = CosignatureSigner.generate("witness.example/w1")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("cosigned")
    extra = f'witness_quorum = 1\n[[log.witness]]\nvkey = "{WITNESS.vkey()}"\n'
    yield from running(write_server_config(directory, (ORIGIN,), extra_log=extra))


def _cosign(server: RunningServer) -> int:
    stub = server.stub()
    latest = stub.GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN))
    line = WITNESS.cosignature_line(parse_note(latest.checkpoint).text, int(time.time()))
    stub.AddCosignature(pb.AddCosignatureRequest(log=ORIGIN, size=latest.size, signatures=line))
    return int(latest.size)


def test_cosigned_checkpoint_is_found_only_once_the_quorum_signed(server: RunningServer) -> None:
    stub = server.stub()
    stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=[b"a", b"b", b"c"]))
    with pytest.raises(grpc.RpcError) as info:
        stub.GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN, cosigned=True, min_size=3))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "cosigned by 1 witnesses" in info.value.details()
    size = _cosign(server)
    got = stub.GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN, cosigned=True, min_size=3))
    assert got.size == size >= 3 and list(got.witnesses) == ["witness.example/w1"]
    # A newer, not yet cosigned checkpoint is the latest, but not the latest cosigned one.
    stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"d"))
    assert stub.GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN)).size == size + 1
    assert stub.GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN, cosigned=True)).size == size


def test_a_waiting_call_returns_when_the_cosignature_arrives(server: RunningServer) -> None:
    stub = server.stub()
    size = stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"wait for me")).result.index + 1
    got: list[pb.GetCheckpointResponse] = []
    waiter = threading.Thread(target=lambda: got.append(stub.GetCheckpoint(
        pb.GetCheckpointRequest(log=ORIGIN, cosigned=True, min_size=size, wait_ms=10_000))))
    waiter.start()
    time.sleep(0.3)
    assert not got  # still waiting
    _cosign(server)
    waiter.join(10)
    assert got and got[0].size >= size and list(got[0].witnesses) == ["witness.example/w1"]


def test_wait_is_bounded(server: RunningServer) -> None:
    with pytest.raises(grpc.RpcError) as info:
        server.stub().GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN, cosigned=True,
                                                            wait_ms=30_001))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
