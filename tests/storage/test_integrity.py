"""The database refuses to guess: real RocksDB files damaged on disk, in process.

End-to-end versions with the real server are in tests/e2e/test_damage.py and
tests/e2e/test_disk_full.py; here each rule of storage/db.py and storage/logstore.py is pinned
on its own: what is refused, what is translated to which exception, and that a damaged log
stops appending while another log in the same database goes on.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.storage.rocks import translate
from auditlog_tlog.storage.walmark import WAL_MARK
from auditlog_tlog.tree.errors import CorruptionError, DiskFullError, StorageError
from auditlog_tlog.tree.hashing import SHA256

A = "a.example/log"
B = "b.example/log"


def _append(store: LogStore, count: int, tag: bytes) -> None:
    store.commit(store.prepare([tag + b"%06d" % i + os.urandom(200) for i in range(count)],
                               True))


def _write_and_die(path: str) -> None:
    """In a child process: write batches, then exit without closing (the WAL keeps them)."""
    db = Database(path)
    store = LogStore(db, A, SHA256)
    for _ in range(20):
        _append(store, 50, b"a")
    os._exit(0)


def _crashed(tmp_path: Path) -> Path:
    child = multiprocessing.get_context("spawn").Process(target=_write_and_die,
                                                         args=(str(tmp_path / "db"),))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    return tmp_path / "db"


def _wal(path: Path) -> Path:
    return sorted(path.glob("*.log"))[-1]


def _flip(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 1]))


def test_backend_errors_are_translated_by_kind() -> None:
    cases = {
        "Corruption: block checksum mismatch: stored = 1, computed = 2": CorruptionError,
        "IO error: No such file or directory: While open a file: /x/000009.sst": CorruptionError,
        "IO error: No space left on device: While appending to file: 000004.log": DiskFullError,
        "IO error: Input/output error": StorageError,
    }
    for text, cls in cases.items():
        error = translate(Exception(text), "doing it")
        assert type(error) is cls, text
        assert str(error).startswith("doing it: ") and text in str(error)


def test_a_crash_leaves_every_synced_batch(tmp_path: Path) -> None:
    db = Database(_crashed(tmp_path))
    assert LogStore(db, A, SHA256).size == 1000
    db.close()


def test_a_torn_last_record_opens_without_it_and_a_flipped_byte_is_refused(
    tmp_path: Path,
) -> None:
    path = _crashed(tmp_path)
    wal = _wal(path)
    size = wal.stat().st_size
    torn = tmp_path / "torn"
    os.makedirs(torn)
    for file in path.iterdir():
        (torn / file.name).write_bytes(file.read_bytes())
    with _wal(torn).open("r+b") as f:
        f.truncate(size - 20)
    db = Database(torn)
    assert LogStore(db, A, SHA256).size == 950  # the last batch was cut, never acknowledged
    db.close()

    _flip(wal, size - 3000)
    with pytest.raises(CorruptionError, match=f"checksum mismatch.*{wal.name}"):
        Database(path)


def test_a_missing_wal_or_current_is_refused(tmp_path: Path) -> None:
    path = _crashed(tmp_path)
    assert json.loads((path / WAL_MARK).read_bytes())["wal"] == int(_wal(path).name[:-4])
    wal = _wal(path)
    current = (path / "CURRENT").read_bytes()
    wal.rename(tmp_path / "kept.log")
    with pytest.raises(CorruptionError, match=f"{wal.name} is missing"):
        Database(path)
    (tmp_path / "kept.log").rename(wal)
    (path / "CURRENT").unlink()
    with pytest.raises(CorruptionError, match="no CURRENT file"):
        Database(path)
    (path / "CURRENT").write_bytes(current)
    db = Database(path)
    assert LogStore(db, A, SHA256).size == 1000
    db.close()


def test_a_database_that_went_back_in_time_is_refused(tmp_path: Path) -> None:
    db = Database(tmp_path)
    _append(LogStore(db, A, SHA256), 10, b"a")
    db.close()
    mark = json.loads((tmp_path / WAL_MARK).read_bytes())
    assert mark["sequence"] > 0
    (tmp_path / WAL_MARK).write_text(json.dumps({**mark, "sequence": mark["sequence"] + 1}))
    with pytest.raises(CorruptionError, match="went back from RocksDB sequence number"):
        Database(tmp_path)
    assert list(tmp_path.glob("*.sst")), "a refused database must keep its files"


def test_read_damage_stops_that_log_and_the_other_goes_on(tmp_path: Path) -> None:
    db = Database(tmp_path)
    a, b = LogStore(db, A, SHA256), LogStore(db, B, SHA256)
    for _ in range(10):
        _append(a, 100, b"a")
    _append(b, 3, b"b")
    note = b"checkpoint"
    a.commit_checkpoint(a.size, note)
    db.close()
    # The default column family's file (the strata have their own, storage/db.py).
    (sst,) = [path for path in tmp_path.glob("*.sst") if note in path.read_bytes()]
    _flip(sst, 100)  # the first block: A's checkpoints, whose keys sort first

    db = Database(tmp_path)
    a, b = LogStore(db, A, SHA256), LogStore(db, B, SHA256)
    with pytest.raises(CorruptionError, match=f"log '{A}'.*checksum mismatch"):
        a.checkpoint_sizes()  # the scan fails: it does not answer "none"
    with pytest.raises(CorruptionError, match="appends and signs no more"):
        a.prepare([b"more"], True)
    assert a.entries(999, 1000)  # what can still be read is served
    _append(b, 2, b"b")
    assert b.size == 5
    db.close()
