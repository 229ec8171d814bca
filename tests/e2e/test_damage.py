"""A damaged database is refused, never guessed at (issue 11: "even when the disk lies").

A real server (``auditlog serve``, two logs) appends, then stops: by SIGKILL, so that the
entries are still in RocksDB's write-ahead log, or by SIGTERM, so that they are in an SST file.
Each test damages a copy of that data directory the way an attacker with root did (a flipped
byte, a truncated or deleted WAL, SST, MANIFEST or CURRENT file) and starts the server on it.
It must either refuse to start, exiting non-zero with one line naming what is damaged, or
answer DATA_LOSS for what it cannot read; it must never serve a smaller tree nor a checkpoint
other than the one signed at a size.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from tests.servers import AUDITLOG, RunningServer, start_server, write_server_config

BIG = "damage.example/big"
SMALL = "damage.example/small"
BATCHES = 40
PER_BATCH = 100


@dataclass(frozen=True)
class Signed:
    """A stopped server's directory and what it acknowledged and signed."""

    directory: Path
    size: int
    note: bytes  # the latest checkpoint of BIG
    small_size: int


def _fill(server: RunningServer) -> tuple[int, bytes, int]:
    stub = server.stub()
    rng = random.Random(11)  # incompressible entries: they fill most of an SST file
    for b in range(BATCHES):
        entries = [b"big %06d " % (b * PER_BATCH + i) + rng.randbytes(200)
                   for i in range(PER_BATCH)]
        stub.AppendBatch(pb.AppendBatchRequest(log=BIG, entries=entries))
    stub.AppendBatch(pb.AppendBatchRequest(log=SMALL, entries=[b"small %d" % i for i in range(5)]))
    got = stub.GetCheckpoint(pb.GetCheckpointRequest(log=BIG))
    small = stub.GetCheckpoint(pb.GetCheckpointRequest(log=SMALL))
    assert got.size == BATCHES * PER_BATCH
    return got.size, got.checkpoint, small.size


def _prepare(directory: Path, stop: Callable[[RunningServer], object]) -> Signed:
    config = write_server_config(directory, (BIG, SMALL))
    server = start_server(config)
    try:
        size, note, small = _fill(server)
    finally:
        stop(server)
    return Signed(directory, size, note, small)


@pytest.fixture(scope="module")
def in_wal(tmp_path_factory: pytest.TempPathFactory) -> Signed:
    """Entries in the WAL only: the server was killed before RocksDB flushed anything."""
    signed = _prepare(tmp_path_factory.mktemp("wal"), RunningServer.kill)
    assert _files(signed.directory, ".log")[-1].stat().st_size > 100_000
    return signed


@pytest.fixture(scope="module")
def in_sst(tmp_path_factory: pytest.TempPathFactory) -> Signed:
    """Entries in one SST file: the server stopped cleanly, which flushes the memtables (the
    strata's column family into a second file)."""
    signed = _prepare(tmp_path_factory.mktemp("sst"), lambda s: s.stop() == 0 or pytest.fail())
    assert len(_files(signed.directory, ".sst")) == 2
    return signed


def _files(directory: Path, suffix: str) -> list[Path]:
    return sorted((directory / "data" / "db").glob(f"*{suffix}"))


def _entries_sst(directory: Path) -> Path:
    """The SST file of the default column family: checkpoints, entries (incompressible, so
    the larger file), leaf hashes; the other holds the strata (storage/db.py)."""
    return max(_files(directory, ".sst"), key=lambda path: path.stat().st_size)


def _copy(signed: Signed, tmp_path: Path) -> Path:
    shutil.copytree(signed.directory, tmp_path / "copy")
    return tmp_path / "copy"


def _flip(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x40]))


def _refused(directory: Path, *words: str) -> str:
    """Run the server on a damaged directory; it must exit non-zero, saying why in one line."""
    done = subprocess.run(
        [*AUDITLOG, "serve", "--config", str(directory / "server.toml")],
        capture_output=True, text=True, timeout=60, cwd=directory,
    )
    assert done.returncode != 0, done.stdout + done.stderr
    assert "serving gRPC" not in done.stdout
    error = done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in error, error
    return error


def _never_smaller(server: RunningServer, signed: Signed) -> None:
    """Whatever the server answers for BIG, it is not a smaller tree nor another checkpoint."""
    stub = server.stub()
    try:
        got = stub.GetCheckpoint(pb.GetCheckpointRequest(log=BIG))
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.DATA_LOSS, exc
        return
    assert got.size >= signed.size
    at = stub.GetCheckpoint(pb.GetCheckpointRequest(log=BIG, size=signed.size))
    assert at.checkpoint == signed.note


# -- the write-ahead log -------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["middle", "3 KB before the end"])
def test_a_flipped_byte_in_the_wal_is_refused(in_wal: Signed, tmp_path: Path, where: str) -> None:
    directory = _copy(in_wal, tmp_path)
    wal = _files(directory, ".log")[-1]
    size = wal.stat().st_size
    _flip(wal, size // 2 if where == "middle" else size - 3000)
    _refused(directory, "damaged", "checksum mismatch", wal.name)


def test_a_deleted_wal_is_refused(in_wal: Signed, tmp_path: Path) -> None:
    directory = _copy(in_wal, tmp_path)
    wal = _files(directory, ".log")[-1]
    wal.unlink()
    _refused(directory, wal.name, "missing")


def test_deleted_current_and_wal_are_refused_not_a_new_database(
    in_wal: Signed, tmp_path: Path
) -> None:
    directory = _copy(in_wal, tmp_path)
    for wal in _files(directory, ".log"):
        wal.unlink()
    (directory / "data" / "db" / "CURRENT").unlink()
    _refused(directory, "no CURRENT file")


def test_a_torn_last_wal_record_opens_without_it(in_wal: Signed, tmp_path: Path) -> None:
    """A crash mid-write leaves the last record incomplete: it was never acknowledged (the
    server answers only after the write and its sync returned), so the database opens without
    it. Here the cut record is the last write, SMALL's latest checkpoint, stored after its
    entries: the log's anchor file, which holds every signed checkpoint, puts it back."""
    directory = _copy(in_wal, tmp_path)
    wal = _files(directory, ".log")[-1]
    with wal.open("r+b") as f:
        f.truncate(wal.stat().st_size - 100)
    config = directory / "server.toml"
    server = start_server(config)
    try:
        stub = server.stub()
        assert stub.GetCheckpoint(pb.GetCheckpointRequest(log=BIG)).size == in_wal.size
        small = stub.GetCheckpoint(pb.GetCheckpointRequest(log=SMALL)).size
        assert small == in_wal.small_size
        assert stub.Append(pb.AppendRequest(log=SMALL, entry=b"after")).result.index == small
    finally:
        assert server.stop() == 0
    assert any("incomplete" in line for line in server.output), server.output


def test_a_wal_truncated_to_half_never_serves_a_smaller_tree(in_wal: Signed, tmp_path: Path) -> None:
    directory = _copy(in_wal, tmp_path)
    wal = _files(directory, ".log")[-1]
    with wal.open("r+b") as f:
        f.truncate(wal.stat().st_size // 2)
    try:
        server = start_server(directory / "server.toml")
    except RuntimeError as exc:
        assert "damaged" in str(exc)  # refused to start, saying why
        return
    try:
        _never_smaller(server, in_wal)
    finally:
        assert server.stop() == 0


# -- SST, MANIFEST and CURRENT -------------------------------------------------------------------
def test_a_flipped_byte_in_the_checkpoints_of_an_sst_is_data_loss(
    in_sst: Signed, tmp_path: Path
) -> None:
    """The first data block holds BIG's checkpoints (its keys sort first): listing them must
    not answer OK with none. The damaged log stops appending; the other log goes on."""
    directory = _copy(in_sst, tmp_path)
    _flip(_entries_sst(directory), 100)
    server = start_server(directory / "server.toml")
    try:
        stub = server.stub()
        calls: list[Callable[[], object]] = [
            lambda: stub.ListCheckpoints(pb.ListCheckpointsRequest(log=BIG)),
            # One that is stored (for one that is not, a bloom filter may answer without the block).
            lambda: stub.GetCheckpoint(pb.GetCheckpointRequest(log=BIG, size=PER_BATCH)),
            lambda: stub.Append(pb.AppendRequest(log=BIG, entry=b"more")),
        ]
        for call in calls:
            with pytest.raises(grpc.RpcError) as info:
                call()
            assert info.value.code() == grpc.StatusCode.DATA_LOSS, info.value
            assert BIG in str(info.value.details())
        appended = stub.Append(pb.AppendRequest(log=SMALL, entry=b"small goes on"))
        assert appended.result.index == in_sst.small_size
        _never_smaller(server, in_sst)
    finally:
        assert server.stop() == 0


def test_a_flipped_byte_among_the_entries_of_an_sst_is_data_loss(
    in_sst: Signed, tmp_path: Path
) -> None:
    directory = _copy(in_sst, tmp_path)
    sst = _entries_sst(directory)
    _flip(sst, sst.stat().st_size // 4)  # BIG's entries follow its checkpoints
    server = start_server(directory / "server.toml")
    try:
        stub = server.stub()
        with pytest.raises(grpc.RpcError) as info:
            list(stub.GetEntries(pb.GetEntriesRequest(log=BIG, begin=0, end=in_sst.size)))
        assert info.value.code() == grpc.StatusCode.DATA_LOSS, info.value
        assert "checksum mismatch" in str(info.value.details())
        with pytest.raises(grpc.RpcError) as info:
            stub.Append(pb.AppendRequest(log=BIG, entry=b"more"))
        assert info.value.code() == grpc.StatusCode.DATA_LOSS
        assert stub.Append(pb.AppendRequest(log=SMALL, entry=b"on")).result.index
        _never_smaller(server, in_sst)
    finally:
        assert server.stop() == 0


def test_a_deleted_sst_is_refused(in_sst: Signed, tmp_path: Path) -> None:
    directory = _copy(in_sst, tmp_path)
    sst = _files(directory, ".sst")[0]
    sst.unlink()
    _refused(directory, "damaged", sst.name)


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_a_damaged_manifest_is_refused(in_sst: Signed, tmp_path: Path, damage: str) -> None:
    directory = _copy(in_sst, tmp_path)
    (manifest,) = (directory / "data" / "db").glob("MANIFEST-*")
    size = manifest.stat().st_size
    if damage == "flip":
        _flip(manifest, size // 2)
    elif damage == "truncate":
        with manifest.open("r+b") as f:
            f.truncate(size // 2)
    else:
        manifest.unlink()
    _refused(directory, "damaged")


def test_a_deleted_current_is_refused(in_sst: Signed, tmp_path: Path) -> None:
    directory = _copy(in_sst, tmp_path)
    (directory / "data" / "db" / "CURRENT").unlink()
    _refused(directory, "no CURRENT file")
