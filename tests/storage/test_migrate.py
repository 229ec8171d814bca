"""storage/migrate.py: a log of database layout 1 (strata in the default column family) opens
with its strata moved to their own column family, proofs unchanged, and a kill during the move
loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from rocksdict import Options, Rdict

from auditlog_tlog.storage import strata
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.layout import LogKeys
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.storage.migrate import move_strata
from auditlog_tlog.storage.restore import LogImporter
from auditlog_tlog.tree.compact import root_of
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.verify import verify_consistency, verify_inclusion

ORIGIN = "migrate.example/log"
OTHER = "migrate.example/other"
SIZE = 70_001  # three tile levels, a partial stratum at the right of each


def _entries(begin: int, end: int) -> list[bytes]:
    return [b"entry %d" % i for i in range(begin, end)]


def _tiles(size: int) -> list[tuple[int, int]]:
    """(tile level, index) of every stratum a log of ``size`` entries stores."""
    tiles = []
    level, count = 0, size
    while count:
        tiles += [(level, index) for index in range(-(-count // strata.WIDTH))]
        level, count = level + 1, count // strata.WIDTH
    return tiles


def _layout_1(path: Path, sizes: dict[str, int]) -> dict[str, dict[bytes, bytes]]:
    """Logs of ``sizes`` written now, then put back as layout 1 wrote them: every stratum in
    the default column family, none in the strata's own. Returns the strata by log."""
    db = Database(path)
    stored: dict[str, dict[bytes, bytes]] = {}
    for origin, size in sizes.items():
        store = LogStore(db, origin, SHA256)
        for first in range(0, size, 9_000):
            store.commit(store.prepare(_entries(first, min(size, first + 9_000)), False))
        keys = store.keys
        values = {keys.tile(*t): db.get_stratum(keys.tile(*t)) for t in _tiles(size)}
        assert all(values.values())
        stored[origin] = {k: v for k, v in values.items() if v is not None}
        batch = db.batch()
        for key, value in stored[origin].items():
            batch.put(key, value)
        db.delete_strata(batch, *keys.tiles_range())
        db.write(batch)
        assert db.get_stratum(keys.tile(0, 0)) is None
    db.close()
    return stored


def _check(db: Database, origin: str, size: int, stored: dict[bytes, bytes]) -> None:
    """The log's strata are all in their column family and none in the default one, and its
    proofs verify against the roots of the entries."""
    keys = LogKeys(LogStore(db, origin, SHA256).keys.prefix)
    assert list(db.scan(*keys.tiles_range())) == []
    assert {key: db.get_stratum(key) for key in stored} == stored
    store = LogStore(db, origin, SHA256)
    leaves = SHA256.hash_leaves(_entries(0, size))
    assert store.size == size and store.root == root_of(SHA256, leaves)
    pairs = ((0, 1), (300, 5_000), (65_536, 66_000), (size - 1, size - 1))
    for index, small in [(i, min(s, size)) for i, s in pairs if i < size]:
        verify_inclusion(SHA256, index, size, leaves[index], store.inclusion_proof(index, size),
                         store.root)
        verify_consistency(SHA256, small, size, store.consistency_proof(small, size),
                           root_of(SHA256, leaves[:small]), store.root)


def test_a_log_of_layout_1_is_moved_when_it_opens(tmp_path: Path) -> None:
    stored = _layout_1(tmp_path, {ORIGIN: SIZE, OTHER: 300})
    db = Database(tmp_path)
    _check(db, ORIGIN, SIZE, stored[ORIGIN])
    _check(db, OTHER, 300, stored[OTHER])
    store = LogStore(db, ORIGIN, SHA256)
    store.commit(store.prepare(_entries(SIZE, SIZE + 600), False))  # and it appends on
    assert store.root == root_of(SHA256, SHA256.hash_leaves(_entries(0, SIZE + 600)))
    assert move_strata(db, store.keys, ORIGIN) == 0  # once moved, an open moves nothing
    db.close()


_KILLED_MOVE = textwrap.dedent("""
    import os, signal, sys
    from auditlog_tlog.storage import migrate
    from auditlog_tlog.storage.db import Database
    from auditlog_tlog.storage.logstore import LogStore
    from auditlog_tlog.tree.hashing import SHA256
    migrate.MOVE_BATCH = 64
    db = Database(sys.argv[1])
    write = db.write
    done = [0]
    def write_then_die(batch, sync=True):
        write(batch, sync)
        done[0] += 1
        if done[0] == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
    db.write = write_then_die
    LogStore(db, {origin!r}, SHA256)
""")


def test_a_kill_during_the_move_loses_nothing(tmp_path: Path) -> None:
    """Killed (SIGKILL) right after its first batch of 64 strata moved, then again after the
    third: the next open moves the rest, and every stratum is there, once."""
    stored = _layout_1(tmp_path, {ORIGIN: SIZE})[ORIGIN]
    assert len(stored) > 3 * 64
    total = 0
    for batches in (1, 3):
        total += batches
        child = subprocess.run([sys.executable, "-c", _KILLED_MOVE.format(origin=ORIGIN),
                                os.fspath(tmp_path), str(batches)], capture_output=True,
                               timeout=60, check=False)
        assert child.returncode == -signal.SIGKILL, child.stderr.decode()
        db = Database(tmp_path)
        keys = LogKeys(b"L" + (1).to_bytes(4, "big"))
        left = dict(db.scan(*keys.tiles_range()))
        moved = {key for key in stored if db.get_stratum(key) is not None}
        assert len(moved) == 64 * total and moved.isdisjoint(left)
        assert {**left, **{key: db.get_stratum(key) for key in moved}} == stored
        db.close()
    db = Database(tmp_path)
    _check(db, ORIGIN, SIZE, stored)
    db.close()


def test_a_database_without_the_strata_column_family_opens_and_moves(tmp_path: Path) -> None:
    """A database written by layout 1 has no column family but the default one: every record
    of a log written now is copied into such a one by RocksDB itself, and it opens, gains the
    column family, and its log moves and proves."""
    stored = _layout_1(tmp_path / "new", {ORIGIN: SIZE})[ORIGIN]
    db = Database(tmp_path / "new")
    rows = list(db.scan(b"", b"\xff"))
    db.close()
    old = Rdict(os.fspath(tmp_path / "old"), Options(raw_mode=True))
    for key, value in rows:
        old[key] = value
    old.close()
    assert Rdict.list_cf(os.fspath(tmp_path / "old")) == ["default"]
    db = Database(tmp_path / "old")
    _check(db, ORIGIN, SIZE, stored)
    db.close()
    assert sorted(Rdict.list_cf(os.fspath(tmp_path / "old"))) == ["default", "strata"]


def test_an_import_interrupted_before_layout_2_is_cleared_with_its_strata(tmp_path: Path) -> None:
    """A restore that an older version left unfinished (strata in the default column family,
    no state) is started over: the importer deletes those strata too, so that no open moves
    them over the ones it writes."""
    _layout_1(tmp_path, {ORIGIN: SIZE})
    db = Database(tmp_path)
    keys = LogKeys(b"L" + (1).to_bytes(4, "big"))
    batch = db.batch()
    batch.delete(keys.state)
    db.write(batch)
    assert list(db.scan(*keys.tiles_range()))
    importer = LogImporter(db, ORIGIN, SHA256)
    entries = _entries(0, 300)
    importer.add(entries, SHA256.hash_leaves(entries))
    importer.finish({300: b"note"}, 300)
    assert list(db.scan(*keys.tiles_range())) == []
    store = LogStore(db, ORIGIN, SHA256)
    assert move_strata(db, keys, ORIGIN) == 0
    assert store.size == 300 and store.root == root_of(SHA256, SHA256.hash_leaves(entries))
    db.close()
