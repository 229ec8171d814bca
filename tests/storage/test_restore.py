"""LogImporter: a bulk-imported log is the same, record for record, as one built by appends."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.storage.db import Database, prefix
from auditlog_tlog.storage.layout import LogKeys
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.storage.restore import (
    LogImporter,
    digest_bundle,
    leaf_rows,
    tile_stratum,
    write_rows,
)
from auditlog_tlog.tree.errors import ConflictError, CorruptionError, InvalidRangeError, MalformedError
from auditlog_tlog.tree.hashing import BLAKE3, SHA256, Hasher
from auditlog_tlog.tree.tiles import encode_entry_bundle

ORIGIN = "restore.example/log"


@pytest.fixture
def dbs(tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    appended, imported = Database(tmp_path / "appended"), Database(tmp_path / "imported")
    yield appended, imported
    appended.close()
    imported.close()


def _appended(db: Database, hasher: Hasher, entries: list[bytes], cuts: list[int]) -> LogStore:
    store = LogStore(db, ORIGIN, hasher)
    begin = 0
    for end in cuts:
        batch = store.prepare(entries[begin:end], dedup=False)
        store.commit(batch)
        store.commit_checkpoint(end, b"checkpoint %d\n" % end)
        begin = end
    return store


def _import(db: Database, hasher: Hasher, entries: list[bytes], cuts: list[int],
            tiles: dict[tuple[int, int], bytes] | None = None, finish: bool = True) -> LogImporter:
    def on_tile(level: int, index: int, row: bytes) -> None:
        assert tiles is not None and (level, index) not in tiles, "each tile is written once"
        tiles[(level, index)] = row

    importer = LogImporter(db, ORIGIN, hasher, on_tile if tiles is not None else None)
    rng = random.Random(len(entries))
    position = 0
    while position < len(entries):
        take = rng.choice([1, 7, 255, 256, 1000, 5000])
        chunk = entries[position:position + take]
        importer.add(chunk, [hasher.hash_leaf(e) for e in chunk])
        position += len(chunk)
    if finish:
        importer.finish({c: b"checkpoint %d\n" % c for c in cuts}, len(entries))
    return importer


@pytest.mark.parametrize(("hasher", "size"), [(SHA256, 70_000), (BLAKE3, 1), (SHA256, 256),
                                              (SHA256, 65_536)])
def test_an_imported_log_equals_the_appended_one(dbs: tuple[Database, Database], hasher: Hasher,
                                                 size: int) -> None:
    entries = [b"entry %d" % i for i in range(size)]
    cuts = sorted({size, *random.Random(1).sample(range(1, size + 1), min(size, 5))})
    appended = _appended(dbs[0], hasher, entries, cuts)
    tiles: dict[tuple[int, int], bytes] = {}
    _import(dbs[1], hasher, entries, cuts, tiles)
    restored = LogStore(dbs[1], ORIGIN, hasher)
    assert (restored.size, restored.root, restored.checkpoint_size) == (size, appended.root, size)
    assert restored.checkpoint_sizes() == cuts
    assert restored.checkpoint() == b"checkpoint %d\n" % size
    for level, index in tiles:
        assert tiles[(level, index)] == appended.tile(level, index)
    assert len(tiles) == len({(lv, i) for lv in range(4) for i in range(1 + (size >> (8 * lv)) // 256)
                              if appended.tile(lv, i)})
    rng = random.Random(2)
    for _ in range(50):
        index = rng.randrange(size)
        small = rng.randint(index + 1, size)
        assert restored.inclusion_proof(index, small) == appended.inclusion_proof(index, small)
        assert restored.consistency_proof(index, small) == appended.consistency_proof(index, small)
        assert restored.index_of(hasher.hash_leaf(entries[index])) == index
    assert restored.entries(size - 3 if size > 3 else 0, size) == entries[-3:]
    batch = restored.prepare([b"after the restore"], dedup=True)
    restored.commit(batch)
    assert LogStore(dbs[1], ORIGIN, hasher).size == size + 1


def test_a_log_with_entries_is_never_overwritten(dbs: tuple[Database, Database]) -> None:
    _appended(dbs[0], SHA256, [b"a", b"b"], [2])
    with pytest.raises(ConflictError, match="already holds 2 entries"):
        LogImporter(dbs[0], ORIGIN, SHA256)
    assert LogStore(dbs[0], ORIGIN, SHA256).size == 2


def test_an_empty_log_may_be_restored_into(dbs: tuple[Database, Database]) -> None:
    LogStore(dbs[0], ORIGIN, SHA256)  # registered, nothing appended
    _import(dbs[0], SHA256, [b"x"] * 300, [300])
    assert LogStore(dbs[0], ORIGIN, SHA256).size == 300


def test_an_interrupted_import_is_never_served_and_can_be_redone(dbs: tuple[Database, Database]) -> None:
    entries = [b"e%d" % i for i in range(1000)]
    _import(dbs[0], SHA256, entries, [1000], finish=False)._flush()
    with pytest.raises(CorruptionError, match="tile 0/0"):
        LogStore(dbs[0], ORIGIN, SHA256)
    _import(dbs[0], SHA256, entries, [1000])
    assert LogStore(dbs[0], ORIGIN, SHA256).size == 1000


def test_abort_leaves_an_empty_log(dbs: tuple[Database, Database]) -> None:
    importer = _import(dbs[0], SHA256, [b"e%d" % i for i in range(70_000)], [70_000], finish=False)
    importer.abort()
    store = LogStore(dbs[0], ORIGIN, SHA256)
    assert store.size == 0 and store.tile(0, 0) is None and store.checkpoint_sizes() == []


def test_finish_wants_a_checkpoint_at_the_imported_size(dbs: tuple[Database, Database]) -> None:
    importer = _import(dbs[0], SHA256, [b"a", b"b", b"c"], [], finish=False)
    with pytest.raises(InvalidRangeError, match="want one at the imported size 3"):
        importer.finish({2: b"checkpoint 2\n"}, 2)
    with pytest.raises(ValueError, match="2 entries and 1 leaf hashes"):
        importer.add([b"d", b"e"], [SHA256.hash_leaf(b"d")])


def test_a_bundle_digested_elsewhere_gives_the_same_log(dbs: tuple[Database, Database]) -> None:
    entries = [b"e%d" % i for i in range(600)]
    digests = [digest_bundle("sha256", encode_entry_bundle(entries[i:i + 256]), min(256, 600 - i),
                             f"bundle {i}") for i in range(0, 600, 256)]
    assert [d[2] is not None for d in digests] == [True, True, False]
    importer = LogImporter(dbs[0], ORIGIN, SHA256)
    for chunk, leaves, tile in digests:
        importer.add(chunk, leaves, tile)
    importer.finish({600: b"checkpoint 600\n"}, 600)
    appended = _appended(dbs[1], SHA256, entries, [600])
    restored = LogStore(dbs[0], ORIGIN, SHA256)
    assert restored.root == appended.root
    assert [restored.tile(0, i) for i in range(3)] == [appended.tile(0, i) for i in range(3)]
    with pytest.raises(MalformedError, match="bundle 7: entry bundle: entry 1 wants"):
        digest_bundle("sha256", b"\x00\x01a\x00\x09b", 2, "bundle 7")
    with pytest.raises(MalformedError, match="bundle 8: got 1 entries, want 2"):
        digest_bundle("sha256", b"\x00\x01a", 2, "bundle 8")
    with pytest.raises(ValueError, match="want a whole tile of 256"):
        tile_stratum(SHA256, [SHA256.hash_leaf(b"x")])


def test_equal_leaf_hashes_keep_the_last_index_as_appends_do(dbs: tuple[Database, Database]) -> None:
    # Dedup off: "same" within one run of rows (one SST file) and across runs (files ingested
    # later win), as on the append path.
    entries = [b"same" if i in (3, 40, 700) else b"e%d" % i for i in range(1000)]
    appended = _appended(dbs[0], SHA256, entries, [1000])
    importer = LogImporter(dbs[1], ORIGIN, SHA256)
    for begin, end in ((0, 500), (500, 1000)):
        chunk = entries[begin:end]
        importer.add(chunk, [SHA256.hash_leaf(e) for e in chunk])
    importer.finish({1000: b"checkpoint 1000\n"}, 1000)
    restored = LogStore(dbs[1], ORIGIN, SHA256)
    same = SHA256.hash_leaf(b"same")
    assert restored.index_of(same) == appended.index_of(same) == 700
    assert restored.root == appended.root


# Hashes that share their first 8 bytes (the sort's integer key) but differ after, and repeats.
_HASHES = [bytes(8) + bytes([n]) * 24 for n in range(3)] + \
    [SHA256.hash_leaf(b"%d" % n) for n in range(6)]


@given(st.lists(st.sampled_from(_HASHES), min_size=1, max_size=40) | st.lists(
    st.binary(min_size=32, max_size=32), min_size=1, max_size=40))
def test_leaf_rows_are_sorted_by_hash_and_keep_the_last_index_of_equal_ones(
        hashes: list[bytes]) -> None:
    keys = LogKeys(prefix(7))
    indexes = [i.to_bytes(8, "big") for i in range(len(hashes))]
    last = dict(zip(keys.leaf_keys(hashes), indexes, strict=True))  # later indexes overwrite
    assert leaf_rows(keys, hashes, indexes) == (sorted(last), [last[k] for k in sorted(last)])


def test_rows_ingested_before_a_crash_never_open_and_a_new_import_drops_them(
        dbs: tuple[Database, Database]) -> None:
    db = dbs[0]
    stale = [b"stale %d" % i for i in range(3000)]
    importer = LogImporter(db, ORIGIN, SHA256)
    # Killed right after ingesting the first rows, before any tile was written.
    importer.ingest(write_rows(importer.files, 0, stale, [SHA256.hash_leaf(e) for e in stale]))
    with pytest.raises(CorruptionError, match="tile 0/0 holds 1 hashes, want 0 for size 0"):
        LogStore(db, ORIGIN, SHA256)
    fresh = [b"fresh %d" % i for i in range(300)]
    _import(db, SHA256, fresh, [300])
    restored = LogStore(db, ORIGIN, SHA256)
    assert restored.size == 300 and restored.entries(0, 300) == fresh
    keys = LogKeys(prefix(db.log_ids()[ORIGIN]))
    assert db.get(keys.entry(2999)) is None  # beyond the new import: deleted, not left behind
    assert db.get(keys.leaf(SHA256.hash_leaf(stale[0]))) is None
    assert not importer.staging.exists()


def test_an_empty_log_is_imported_at_size_zero(dbs: tuple[Database, Database]) -> None:
    importer = LogImporter(dbs[0], ORIGIN, SHA256)
    importer.finish({0: b"checkpoint 0\n"}, 0)
    store = LogStore(dbs[0], ORIGIN, SHA256)
    assert (store.size, store.tile(0, 0), store.checkpoint_sizes()) == (0, None, [0])
