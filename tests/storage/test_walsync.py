"""Durable writes made of an unsynced RocksDB write and our own fdatasync (storage/walsync.py).

The system calls are the proof: a child process writes through ``Database`` under ``strace``,
and every synced write must be followed by an ``fdatasync`` of the live WAL file before the
next write starts, with the directory fsynced once a WAL file is new. The SIGKILL tests in
tests/e2e/test_crash.py check that nothing acknowledged is lost across crashes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.walsync import WalSync, wal_numbers

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import os, sys
    from auditlog_tlog.storage.db import Database
    db = Database(sys.argv[1])
    for i in range(int(sys.argv[2])):
        os.write(2, b"MARK write %d\\n" % i)   # seen by strace as write(2, ...)
        batch = db.batch()
        batch.put(b"k%d" % i, b"v" * 100)
        db.write(batch, sync=sys.argv[3] == "sync")
    os.write(2, b"MARK end\\n")
    db.close()
""")


def _trace(tmp_path: Path, writes: int, mode: str) -> list[str]:
    """The MARK writes, fdatasync and fsync calls of a child that writes ``writes`` batches."""
    out = tmp_path / "strace.txt"
    subprocess.run(
        ["strace", "-f", "-y", "-e", "trace=write,fdatasync,fsync", "-o", str(out),
         sys.executable, "-c", CHILD, str(tmp_path / "db"), str(writes), mode],
        check=True, cwd=ROOT, capture_output=True, timeout=60,
    )
    wanted = re.compile(r"MARK|fdatasync\(|fsync\(")
    return [line for line in out.read_text().splitlines() if wanted.search(line)]


def _after_marks(lines: list[str]) -> list[list[str]]:
    """The sync calls between one MARK and the next, one list per write."""
    groups: list[list[str]] = []
    for line in lines:
        if "MARK" in line:
            groups.append([])
        elif groups:
            groups[-1].append(line)
    return groups[:-1]  # the calls after "MARK end" are the close


def test_every_synced_write_fdatasyncs_the_live_wal(tmp_path: Path) -> None:
    groups = _after_marks(_trace(tmp_path, 5, "sync"))
    assert len(groups) == 5
    for i, calls in enumerate(groups):
        assert any(re.search(r"fdatasync\(\d+</[^>]*/\d{6}\.log>\) = 0", c) for c in calls), \
            f"write {i}: no fdatasync of a WAL file, got {calls}"
    dir_syncs = [c for g in groups for c in g if re.search(r"fsync\(\d+</[^>]*/db>\)", c)]
    assert dir_syncs, "the directory holding the new WAL file was never fsynced"


def test_unsynced_writes_sync_nothing(tmp_path: Path) -> None:
    groups = _after_marks(_trace(tmp_path, 3, "nosync"))
    assert groups == [[], [], []]


def test_sync_follows_a_new_wal_file_and_forgets_deleted_ones(tmp_path: Path) -> None:
    for number in (3, 7):
        (tmp_path / f"{number:06d}.log").write_bytes(b"x")
    (tmp_path / "000009.sst").write_bytes(b"x")
    wal = WalSync(tmp_path)
    assert wal.floor() == 0
    wal.sync(wal.floor())
    assert wal.floor() == 7
    (tmp_path / "000003.log").unlink()  # flushed into an SST and deleted by RocksDB
    (tmp_path / "000011.log").write_bytes(b"x")  # RocksDB switched to a new WAL
    wal.sync(7)
    assert wal.floor() == 11
    (tmp_path / "000007.log").unlink()
    wal.sync(7)  # a file deleted before it is opened again is not an error
    assert wal.floor() == 11
    wal.close()
    assert wal_numbers(tmp_path) == [11]


def test_writes_survive_reopening(tmp_path: Path) -> None:
    db = Database(tmp_path / "db")
    for i in range(50):
        batch = db.batch()
        batch.put(b"k%03d" % i, os.urandom(64))
        db.write(batch)
    db.close()
    again = Database(tmp_path / "db")
    assert [k for k, _ in again.scan(b"k", b"l")] == [b"k%03d" % i for i in range(50)]
    again.close()
