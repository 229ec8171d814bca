"""Anchors (server/anchors.py, server/writer.py): a log whose database was deleted, truncated or
replaced by an older copy of itself refuses to append and sign, and never signs a second
checkpoint at a size it already signed; a crash between the anchor file and the database is
repaired at open; a witness catches a log that lost everything. In process with a real RocksDB,
then with the real server and a real witness on loopback."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.anchors import AnchorFile, LogHaltedError, checkpoint_of
from auditlog_tlog.server.app import LogServer
from auditlog_tlog.server.config import parse_config
from auditlog_tlog.server.writer import LogWriter
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.checkpoint import Checkpoint
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.errors import CorruptionError, DiskFullError
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import sign_note
from tests.servers import start_server, write_server_config
from tests.witness.helpers import MemoryArchive, TestLog, make_witness, served

ORIGIN = "anchor.example/log"
KEY = Ed25519Signer.generate(ORIGIN)


def _note(size: int, root: bytes, origin: str = ORIGIN) -> bytes:
    return sign_note(Checkpoint(origin, size, root).to_text(), [KEY])


@dataclass
class Log:
    """One log opened the way the server opens it: store, anchor file, writer."""

    directory: Path
    extra: tuple[FakeAnchor, ...] = ()
    halts: list[LogHaltedError] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.db = Database(self.directory / "db")
        self.store = LogStore(self.db, ORIGIN, SHA256)
        self.anchors = AnchorFile(self.directory / "anchors", ORIGIN)
        self.writer = LogWriter(self.store, [KEY], self.anchors, self.extra, self.halts.append)
        self.writer.open()

    def append(self, *entries: bytes) -> None:
        self.writer.append(list(entries), True, sign=True)

    def close(self) -> None:
        self.db.close()


@dataclass
class FakeAnchor:
    """An anchor outside the log, like a publisher's bucket."""

    name: str
    note: bytes | None = None

    def latest(self) -> bytes | None:
        return self.note


# -- the anchor file -----------------------------------------------------------------------------
def test_the_anchor_file_keeps_the_latest_record_and_cuts_a_torn_tail(tmp_path: Path) -> None:
    anchors = AnchorFile(tmp_path, ORIGIN)
    assert anchors.latest() is None and anchors.path.parent == tmp_path
    first, second = _note(1, SHA256.hash_leaf(b"a")), _note(2, SHA256.hash_leaf(b"b"))
    anchors.append(first)
    anchors.append(second)
    whole = anchors.path.read_bytes()
    assert AnchorFile(tmp_path, ORIGIN).latest() == second
    with anchors.path.open("ab") as f:  # a crash in the middle of appending a third record
        f.write(len(first).to_bytes(4, "big") + first[:20])
    reopened = AnchorFile(tmp_path, ORIGIN)
    assert reopened.latest() == second and anchors.path.read_bytes() == whole
    reopened.append(first)
    assert AnchorFile(tmp_path, ORIGIN).latest() == first
    AnchorFile(tmp_path, "other.example/log").path.write_bytes(whole)  # in another's place
    with pytest.raises(CorruptionError, match=f"holds origin '{ORIGIN}', want 'other.example/log'"):
        AnchorFile(tmp_path, "other.example/log")
    anchors.path.write_bytes(whole + b"\xff" * 70_000)
    with pytest.raises(CorruptionError, match="unreadable bytes after offset"):
        AnchorFile(tmp_path, ORIGIN)


def test_the_anchor_file_is_compacted_to_its_latest_record(tmp_path: Path) -> None:
    anchors = AnchorFile(tmp_path, ORIGIN, compact_bytes=1000)
    notes = [_note(n, SHA256.hash_leaf(b"%d" % n)) for n in range(12)]
    for note in notes:
        anchors.append(note)
        assert anchors.path.stat().st_size <= 1000
    assert AnchorFile(tmp_path, ORIGIN).latest() == notes[-1]


# -- the writer at open --------------------------------------------------------------------------
def test_a_crash_after_the_anchor_file_is_repaired_from_it_at_open(tmp_path: Path) -> None:
    log = Log(tmp_path)
    log.append(b"a", b"b", b"c")
    # The writer's order: entries committed, then signed, then the anchor file; the crash
    # comes before the database stores the checkpoint.
    log.store.commit(log.store.prepare([b"d", b"e"], True))
    signed = _note(log.store.size, log.store.root)
    log.anchors.append(signed)
    log.close()
    log = Log(tmp_path)
    assert log.writer.halted is None and log.halts == []
    assert (log.store.checkpoint_size, log.store.checkpoint()) == (5, signed)
    assert log.anchors.latest() == signed  # put back, not signed again
    log.append(b"f")
    assert log.store.checkpoint_sizes() == [0, 3, 5, 6]
    log.close()


def test_an_overlapped_checkpoint_is_in_the_anchor_file_before_the_database(
    tmp_path: Path,
) -> None:
    """``append(overlap=True)``: the checkpoint goes to the anchor file in the anchor thread,
    the next append commits, then stores it (settle), then signs its own; a crash before the
    settle finds it in the anchor file and puts it back at open."""
    log = Log(tmp_path)
    log.writer.append([b"a", b"b"], True, sign=True, overlap=True)
    assert log.writer.in_flight == 2 and log.store.checkpoint_size == 0
    log.writer.append([b"c"], True, sign=True, overlap=True)  # stores 2, signs 3
    assert log.store.checkpoint_sizes() == [0, 2] and log.writer.in_flight == 3
    log.writer.append([b"a"], True, sign=True, overlap=True)  # a duplicate: stores 3 only
    assert log.store.checkpoint_size == 3 and log.writer.in_flight is None
    log.writer.append([b"d"], True, sign=True, overlap=True)
    log.writer._in_flight[2].result()  # durable, then the "crash"
    in_file = log.anchors.latest()
    assert in_file is not None and checkpoint_of(in_file).size == 4
    assert log.store.checkpoint_size == 3
    log.close()
    log = Log(tmp_path)
    assert log.halts == [] and log.store.checkpoint_sizes() == [0, 2, 3, 4]
    assert log.store.checkpoint() == in_file == log.anchors.latest()  # put back, not re-signed
    log.writer.close()
    log.close()


def test_a_database_without_an_anchor_file_starts_one(tmp_path: Path) -> None:
    log = Log(tmp_path)
    log.append(b"a")
    latest = log.store.checkpoint()
    log.close()
    shutil.rmtree(tmp_path / "anchors")
    log = Log(tmp_path)
    assert log.anchors.latest() == latest and log.writer.halted is None
    log.close()


@pytest.mark.parametrize("damage", ["older copy", "deleted"])
def test_a_database_behind_its_anchor_file_halts_and_signs_nothing(
    tmp_path: Path, damage: str
) -> None:
    log = Log(tmp_path)
    log.append(b"a", b"b", b"c")
    log.close()
    shutil.copytree(tmp_path / "db", tmp_path / "db-at-3")
    log = Log(tmp_path)
    log.append(b"d", b"e")
    at5 = log.store.checkpoint()
    log.close()
    shutil.rmtree(tmp_path / "db")
    if damage == "older copy":
        shutil.move(tmp_path / "db-at-3", tmp_path / "db")
    log = Log(tmp_path)
    halted = log.writer.halted
    assert halted is not None and log.halts == [halted]
    assert "smaller than the checkpoint at size 5 in anchor file" in str(halted)
    assert halted.evidence == (at5, log.store.checkpoint() or b"")
    before = log.store.checkpoint_sizes()
    assert before == ([0, 3] if damage == "older copy" else [])  # nothing signed at open
    for attempt in (lambda: log.append(b"x"), log.writer.sign_head):
        with pytest.raises(LogHaltedError):
            attempt()
    assert log.store.checkpoint_sizes() == before and log.anchors.latest() == at5
    log.close()


@pytest.mark.parametrize(("entries", "says"), [
    ([b"x", b"y", b"z"], "differs from the checkpoint at size 3"),
    ([b"v", b"w", b"x", b"y", b"z"], "cannot prove consistency with the checkpoint at size 3"),
])
def test_a_database_with_another_history_halts(
    tmp_path: Path, entries: list[bytes], says: str
) -> None:
    log = Log(tmp_path)
    log.append(b"a", b"b", b"c")
    log.close()
    shutil.rmtree(tmp_path / "db")
    db = Database(tmp_path / "db")  # another database, with other entries
    store = LogStore(db, ORIGIN, SHA256)
    store.commit(store.prepare(entries, True))
    db.close()
    log = Log(tmp_path)
    assert log.writer.halted is not None and says in str(log.writer.halted)
    assert log.store.checkpoint_sizes() == []
    log.close()


def test_an_external_anchor_is_checked_before_every_signature(tmp_path: Path) -> None:
    bucket = FakeAnchor("bucket s3://logs")
    log = Log(tmp_path, (bucket,))
    log.append(b"a", b"b", b"c")
    bucket.note = log.store.checkpoint()  # the bucket has what the log signed: fine
    log.append(b"d")
    other = LogStore(Database(tmp_path / "other"), ORIGIN, SHA256)
    other.commit(other.prepare([b"a", b"B"], True))
    bucket.note = _note(2, other.root)  # a checkpoint of another history
    with pytest.raises(LogHaltedError, match=r"cannot prove consistency with the checkpoint at "
                                             r"size 2 .* in bucket s3://logs"):
        log.append(b"e")
    assert log.store.size == 5 and log.store.checkpoint_size == 4  # durable, never signed
    assert log.halts and log.halts[0].anchor == "bucket s3://logs"
    log.close()


# -- the real server -----------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["older copy", "deleted"])
def test_the_server_refuses_to_sign_over_a_restored_or_deleted_database(
    tmp_path: Path, damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_server_config(tmp_path, (ORIGIN, "other.example/log"))
    data = tmp_path / "data"
    server = start_server(config)
    server.stub().AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=[b"a", b"b", b"c"]))
    assert server.stop() == 0
    shutil.copytree(data / "db", tmp_path / "db-at-3")
    server = start_server(config)
    server.stub().AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=[b"d", b"e"]))
    assert server.stop() == 0
    anchor_file = AnchorFile(data / "anchors", ORIGIN).path
    anchored = anchor_file.read_bytes()
    shutil.rmtree(data / "db")
    if damage == "older copy":
        shutil.move(tmp_path / "db-at-3", data / "db")

    monkeypatch.setenv("AUDITLOG_LOG_FORMAT", "json")  # one JSON line per message, evidence and all
    server = start_server(config)
    try:
        stub = server.stub()
        with pytest.raises(grpc.RpcError) as info:
            stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"f"))
        assert info.value.code() == grpc.StatusCode.DATA_LOSS
        assert "smaller than the checkpoint at size 5" in (info.value.details() or "")
        assert "smaller than the checkpoint at size 5" in stub.GetLogInfo(
            pb.GetLogInfoRequest(log=ORIGIN)).halted
        other = "other.example/log"  # the other log goes on
        assert stub.Append(pb.AppendRequest(log=other, entry=b"f")).result.index == 0
        assert stub.GetLogInfo(pb.GetLogInfoRequest(log=other)).halted == ""
        with pytest.raises(grpc.RpcError) as info:  # its latest checkpoint is a smaller tree
            stub.GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN))
        assert info.value.code() == grpc.StatusCode.DATA_LOSS
        if damage == "older copy":  # a checkpoint it signed at a size is still served
            assert stub.GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN, size=3)).size == 3
        with urllib.request.urlopen(server.metrics_url, timeout=5) as response:
            metrics = response.read().decode()
        assert f'auditlog_log_halted{{log="{ORIGIN}"}} 1.0' in metrics
        assert f'auditlog_log_halted{{log="{other}"}} 0.0' in metrics
    finally:
        assert server.stop() == 0
    (said,) = [json.loads(line)["event"] for line in server.output if "is HALTED" in line]
    assert said.startswith(f"log {ORIGIN} is HALTED") and "restore this log's database" in said
    assert f"{ORIGIN}\n5\n" in said  # the anchor's checkpoint, as evidence
    if damage == "older copy":
        assert f"{ORIGIN}\n3\n" in said  # and the database's
    assert anchor_file.read_bytes() == anchored  # nothing was signed
    db = Database(data / "db")
    try:
        assert LogStore(db, ORIGIN, SHA256).checkpoint_sizes() == (
            [0, 3] if damage == "older copy" else [])
    finally:
        db.close()


def test_a_witness_catches_a_log_whose_whole_data_dir_was_deleted(tmp_path: Path) -> None:
    """Without database and anchor file, the log starts from nothing; its push witness answers
    409 with the size it cosigned before, and the log halts before it takes an append."""
    log = TestLog()
    key_file = tmp_path / "log.key"
    key_file.write_text(log.signer.skey() + "\n")
    key_file.chmod(0o600)
    signer = CosignatureSigner.generate("witness.example/w1")
    witness = make_witness(tmp_path / "witness", [log], MemoryArchive(), signer=signer)

    async def until(check: Callable[[], bool]) -> None:
        for _ in range(500):
            if check():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("timed out")

    def cosigned() -> int:
        state = witness.state_of(log.origin)
        return -1 if state is None else state.size

    with served(witness) as httpd:
        config = parse_config(
            '[server]\nlisten = "127.0.0.1:0"\nmetrics_listen = ""\n'
            f'[[log]]\norigin = "{log.origin}"\nkey_file = "{key_file}"\n'
            f'[[log.witness]]\nvkey = "{signer.vkey()}"\nurl = "http://127.0.0.1:{httpd.port}"\n',
            tmp_path,
        )

        async def main() -> None:
            server = LogServer(config)
            await server.start()
            try:
                await server.logs[log.origin].sequencer().append([b"a", b"b", b"c"], False)
                await until(lambda: cosigned() == 3)
            finally:
                await server.stop()
            shutil.rmtree(config.data_dir)
            server = LogServer(config)
            await server.start()
            try:
                runtime = server.logs[log.origin]
                await until(lambda: runtime.halted is not None)
                assert "smaller than the size 3 that witness witness.example/w1" in str(
                    runtime.halted)
                with pytest.raises(LogHaltedError):
                    await runtime.sequencer().append([b"x"], False)
                assert runtime.store.checkpoint_sizes() == [0]  # the empty tree, nothing else
            finally:
                await server.stop()

        asyncio.run(main())
    assert cosigned() == 3


def test_the_server_checks_the_anchors_it_is_given_for_a_log(tmp_path: Path) -> None:
    """A publisher hands its bucket to the server as an anchor of its log (LogServer.anchors)."""
    config = parse_config(
        f'[server]\nlisten = "127.0.0.1:0"\nmetrics_listen = ""\n[[log]]\norigin = "{ORIGIN}"\n'
        '[[log]]\norigin = "other.example/log"\n', tmp_path)
    bucket = FakeAnchor("bucket s3://logs", _note(10, SHA256.hash_leaf(b"x")))

    async def main() -> None:
        server = LogServer(config, anchors={ORIGIN: (bucket,)})
        await server.start()
        try:
            halted = server.logs[ORIGIN].halted
            assert halted is not None and halted.anchor == "bucket s3://logs"
            assert server.logs["other.example/log"].halted is None
        finally:
            await server.stop()

    asyncio.run(main())


def test_a_failed_append_to_the_anchor_file_leaves_no_torn_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record written but not made durable (the disk fills at fsync) is cut back, so a later
    record is never read behind a torn one; the error says the disk is full."""
    first, second, third = (_note(n, bytes([n]) * 32) for n in (1, 2, 3))
    anchors = AnchorFile(tmp_path / "anchors", ORIGIN)
    anchors.append(first)
    size = anchors.path.stat().st_size

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", full)
        with pytest.raises(DiskFullError, match="appending to anchor file"):
            anchors.append(second)
    assert anchors.path.stat().st_size == size and anchors.latest() == first
    anchors.append(third)
    assert AnchorFile(tmp_path / "anchors", ORIGIN).latest() == third
