"""Proof reads of storage/logstore.py: the inclusion proof with its leaf in one read, and the
latest checkpoint served from memory, which must follow every write of it."""

from __future__ import annotations

from pathlib import Path

from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.verify import verify_inclusion

ORIGIN = "proofs.example/log"


def test_inclusion_gives_the_leaf_and_the_path_of_inclusion_proof(tmp_path: Path) -> None:
    db = Database(tmp_path)
    store = LogStore(db, ORIGIN, SHA256)
    for batch in range(7):
        store.commit(store.prepare([b"%d-%d" % (batch, i) for i in range(150)], False))
    for size in (1, 256, 257, 700, store.size):
        for index in {0, size // 3, size - 1}:
            leaf, proof = store.inclusion(index, size)
            assert leaf == store.leaf_hash(index) == SHA256.hash_leaf(b"%d-%d" % divmod(index, 150))
            assert proof == store.inclusion_proof(index, size)
    root = store.root
    leaf, proof = store.inclusion(500, store.size)
    verify_inclusion(SHA256, 500, store.size, leaf, proof, root)
    db.close()


def test_the_latest_checkpoint_follows_commits_and_attached_cosignatures(tmp_path: Path) -> None:
    db = Database(tmp_path)
    store = LogStore(db, ORIGIN, SHA256)
    store.commit(store.prepare([b"a", b"b"], False))
    store.commit_checkpoint(2, b"note at 2")
    assert store.checkpoint() == store.checkpoint(2) == b"note at 2"
    store.store_checkpoint(2, b"note at 2 with a cosignature")
    assert store.checkpoint() == b"note at 2 with a cosignature"
    store.commit(store.prepare([b"c"], False))
    store.commit_checkpoint(3, b"note at 3")
    assert (store.checkpoint(), store.checkpoint(2)) == (b"note at 3", b"note at 2 with a cosignature")
    db.close()
    again = Database(tmp_path)
    assert LogStore(again, ORIGIN, SHA256).checkpoint() == b"note at 3"
    again.close()


def test_a_proof_read_of_a_stratum_leaves_the_block_cache_as_it_is(tmp_path: Path) -> None:
    """Database.read_stratum (the proof reader's) reads what get_stratum reads, checksums
    verified, without adding its block to the block cache; get_stratum (tiles) adds it."""
    db = Database(tmp_path)
    store = LogStore(db, ORIGIN, SHA256)
    for batch in range(20):
        store.commit(store.prepare([b"%d-%d" % (batch, i) for i in range(256)], False))
    db.close()
    db = Database(tmp_path)  # the strata now come from SST files, not the memtable
    store = LogStore(db, ORIGIN, SHA256)
    keys = [store.keys.tile(0, index) for index in range(20)]
    before = db._cache.get_usage()
    values = [db.read_stratum(key) for key in keys]
    assert db._cache.get_usage() == before
    assert values == [db.get_stratum(key) for key in keys]
    assert all(values) and db._cache.get_usage() > before
    leaf, proof = store.inclusion(4000, store.size)
    verify_inclusion(SHA256, 4000, store.size, leaf, proof, store.root)
    db.close()
