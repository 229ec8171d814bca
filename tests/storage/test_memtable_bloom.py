"""The memtable's bloom filter (storage/dbopen.py: ``set_memtable_prefix_bloom_ratio`` with
``set_memtable_whole_key_filtering``) only spares lookups of keys the memtable lacks: every key
stored is still found by ``get``, ``get_many`` and the strata's reads, in the memtable, in SST
files after a reopen, beside a range deletion, and the log's dedup still finds every entry."""

from __future__ import annotations

import random
from pathlib import Path

from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.hashing import SHA256

ORIGIN = "bloom.example/log"


def _keys() -> list[bytes]:
    """Random keys of 1..40 bytes, and keys that are a byte longer or shorter than others (a
    filter on a prefix of the key would take them for one another)."""
    rnd = random.Random(7)
    keys = [rnd.randbytes(rnd.randrange(1, 41)) for _ in range(6000)]
    keys += [k + b"\x00" for k in keys[:600]] + [k[:-1] for k in keys[:600] if len(k) > 1]
    return list(dict.fromkeys(keys))


def _write(db: Database, keys: list[bytes]) -> None:
    wb = db.batch()
    for key in keys:
        wb.put(key, b"v" + key)
        db.put_stratum(wb, key, b"s" + key)
    db.write(wb)


def _missed(db: Database, keys: list[bytes]) -> dict[str, int]:
    """How many stored keys each read does not find (all zero when none is missed)."""
    return {
        "get": sum(db.get(k) != b"v" + k for k in keys),
        "get_many": sum(v != b"v" + k for k, v in zip(keys, db.get_many(keys), strict=True)),
        "get_stratum": sum(db.get_stratum(k) != b"s" + k for k in keys),
        "read_stratum": sum(db.read_stratum(k) != b"s" + k for k in keys),
    }


def test_every_key_stored_is_found_in_the_memtable_in_files_and_after_a_reopen(
        tmp_path: Path) -> None:
    keys = _keys()
    half = len(keys) // 2
    none = dict.fromkeys(("get", "get_many", "get_stratum", "read_stratum"), 0)
    db = Database(tmp_path)
    _write(db, keys[:half])
    assert _missed(db, keys[:half]) == none  # the memtable
    db.close()
    db = Database(tmp_path)  # the first half now in SST files
    _write(db, keys[half:])  # the second in the memtable
    assert _missed(db, keys) == none
    lo, hi = sorted(keys[:half])[100], sorted(keys[:half])[300]
    wb = db.batch()
    wb.delete_range(lo, hi)  # a range deletion in the memtable over keys in files
    db.write(wb)
    covered = [k for k in keys if lo <= k < hi]
    assert len(covered) >= 200
    assert [db.get(k) for k in covered] == db.get_many(covered) == [None] * len(covered)
    kept = [k for k in keys if not lo <= k < hi]
    assert db.get_many([b"absent" + k for k in kept[:500]]) == [None] * 500
    db.close()
    db = Database(tmp_path)
    assert _missed(db, kept) == none
    assert db.get_many(covered) == [None] * len(covered)
    db.close()


def test_the_dedup_finds_every_entry_in_the_memtable_in_files_and_after_a_prune(
        tmp_path: Path) -> None:
    """An entry given again gets its first index whether its leaf hash is in the memtable or
    in a file, and after its bytes were pruned (a range deletion in the memtable)."""
    entries = [b"entry %d" % i for i in range(1024)]
    db = Database(tmp_path)
    store = LogStore(db, ORIGIN, SHA256)
    store.commit(store.prepare(entries[:512], True))
    again = store.prepare(entries[:600], True)  # 512 in the memtable, 88 new
    assert again.indexes == list(range(600))
    assert again.duplicates == frozenset(range(512))
    store.commit(again)
    db.close()
    db = Database(tmp_path)  # now all in files
    store = LogStore(db, ORIGIN, SHA256)
    store.commit(store.prepare(entries[600:], True))
    store.prune(512)
    batch = store.prepare(entries[::-1], True)
    assert batch.indexes == list(range(1023, -1, -1))
    assert batch.duplicates == frozenset(range(1024)) and batch.entries == []
    assert store.entries(512, 520) == entries[512:520]
    db.close()
