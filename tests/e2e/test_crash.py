"""Crash safety: SIGKILL the server under load, restart, and check that nothing answered was lost.

Several clients append (unary, batch and stream) and record every acknowledgement. The server
is killed with SIGKILL at random moments and restarted on the same data dir. At the end, with
the server stopped, the test opens the RocksDB itself and checks:
- every acknowledged entry is at the index it was given;
- the root recomputed from the stored entries equals the root of every stored checkpoint, and
  every stored checkpoint verifies under the log's key;
- every pair of consecutive stored checkpoints is consistent (by a proof from storage).
The default run kills the server a few times; ``-m slow`` (make test-all) kills it 25 times.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.compact import CompactRange
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.note import open_note
from auditlog_tlog.tree.verify import verify_consistency
from auditlog_tlog.tree.vkeys import parse_vkey
from tests.servers import RunningServer, start_server, write_server_config

ORIGIN = "crash.example/log"


class Load:
    """Clients appending until stopped; ``acked`` maps entry -> index for every acknowledgement."""

    def __init__(self, address: str, seed: int) -> None:
        self.address = address
        self.acked: dict[bytes, int] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.seed = seed
        self.counter = 0

    def _entries(self, n: int) -> list[bytes]:
        with self.lock:
            self.counter += n
            start = self.counter - n
        return [b"crash-%d-%08d" % (self.seed, i) + b"." * 200 for i in range(start, start + n)]

    def _record(self, entries: list[bytes], results: list[pb.AppendResult]) -> None:
        with self.lock:
            for entry, result in zip(entries, results, strict=True):
                self.acked[entry] = result.index

    def client(self, kind: str) -> None:
        channel = grpc.insecure_channel(self.address)
        stub = __import__("proto.auditlog_pb2_grpc", fromlist=["LogStub"]).LogStub(channel)
        try:
            while not self.stop.is_set():
                try:
                    if kind == "unary":
                        entries = self._entries(1)
                        r = stub.Append(pb.AppendRequest(log=ORIGIN, entry=entries[0]), timeout=5)
                        self._record(entries, [r.result])
                    elif kind == "batch":
                        entries = self._entries(50)
                        r = stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=entries),
                                             timeout=5)
                        self._record(entries, list(r.results))
                    else:
                        sent = [self._entries(20) for _ in range(10)]
                        requests = (pb.AppendStreamRequest(log=ORIGIN, entries=e, sequence=i)
                                    for i, e in enumerate(sent))
                        for response in stub.AppendStream(requests, timeout=5):
                            self._record(sent[response.sequence], list(response.results))
                except grpc.RpcError:
                    time.sleep(0.02)  # the server is down or restarting
        finally:
            channel.close()


def _check_storage(data_dir: Path, acked: dict[bytes, int], vkey: str) -> int:
    db = Database(data_dir / "db")
    try:
        store = LogStore(db, ORIGIN, SHA256)
        entries = store.entries(0, store.size)
        for entry, index in acked.items():
            assert entries[index] == entry, f"acknowledged entry lost at index {index}"
        sizes = store.checkpoint_sizes()
        assert sizes and sizes[-1] == store.size
        roots: dict[int, bytes] = {}
        compact = CompactRange(SHA256)
        wanted = iter(sizes)
        size = next(wanted)
        for i in range(store.size + 1):
            while size == i:
                roots[size] = compact.root()
                size = next(wanted, -1)
            if i < store.size:
                compact.append(SHA256.hash_leaf(entries[i]))
        verifier = parse_vkey(vkey)
        for size in sizes:
            note = store.checkpoint(size)
            assert note is not None
            checkpoint = parse_checkpoint(open_note(note, [verifier]).note.text)
            assert (checkpoint.size, checkpoint.root) == (size, roots[size])
        for a, b in itertools.pairwise(sizes):
            verify_consistency(SHA256, a, b, store.consistency_proof(a, b), roots[a], roots[b])
        return store.size
    finally:
        db.close()


def _run(tmp_path: Path, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    config = write_server_config(tmp_path, (ORIGIN,))
    server: RunningServer = start_server(config)
    vkey = next(line.split(" key ")[-1].strip() for line in server.output if "auditlog: log " in line)
    load = Load(server.address, seed)
    # Restarted servers listen on a new ephemeral port: clients follow ``load.address``.
    threads: list[threading.Thread] = []

    def start_clients() -> None:
        for kind in ("unary", "unary", "unary", "batch", "stream"):
            t = threading.Thread(target=load.client, args=(kind,), daemon=True)
            t.start()
            threads.append(t)

    try:
        for _ in range(kills):
            load.stop.clear()
            start_clients()
            time.sleep(rng.uniform(0.2, 0.8))
            server.kill()
            load.stop.set()
            for t in threads:
                t.join(10)
            threads.clear()
            server = start_server(config)
            load.address = server.address
        size = _wait_and_stop(server)
    finally:
        load.stop.set()
        if server.process.poll() is None:
            server.kill()
    # Each round must have had time to acknowledge plenty before the kill.
    assert len(load.acked) > 100 * kills, len(load.acked)
    stored = _check_storage(tmp_path / "data", load.acked, vkey)
    assert stored == size
    print(f"{kills} kills, {len(load.acked)} acknowledged, {stored} stored")


def _wait_and_stop(server: RunningServer) -> int:
    size = server.stub().GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN)).size
    assert server.stop() == 0
    return int(size)


def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    _run(tmp_path, kills=3, seed=1)


@pytest.mark.slow
@pytest.mark.timeout(900)  # 25 kills and restarts: minutes on a loaded machine
def test_sigkill_soak(tmp_path: Path) -> None:
    _run(tmp_path, kills=25, seed=2)
