"""LogStore against an in-memory model: appends, reopen, proofs at every past size, corruption."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from auditlog_tlog.storage.db import Database, prefix
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.compact import root_of
from auditlog_tlog.tree.errors import CorruptionError, InvalidRangeError, StorageError
from auditlog_tlog.tree.hashing import BLAKE3, SHA256, Hasher
from auditlog_tlog.tree.verify import verify_consistency, verify_inclusion

ORIGIN = "test.example/log"


class LogStoreMachine(RuleBasedStateMachine):
    """The model is the list of distinct entries in order and the root at every committed size."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="logstore-"))
        self.db: Database | None = None

    @initialize(hasher=st.sampled_from([SHA256, BLAKE3]), dedup=st.booleans())
    def open_empty(self, hasher: Hasher, dedup: bool) -> None:
        self.hasher, self.dedup = hasher, dedup
        self.db = Database(self.dir)
        self.store = LogStore(self.db, ORIGIN, hasher)
        self.entries: list[bytes] = []
        self.roots = {0: hasher.empty_root()}

    def teardown(self) -> None:
        if self.db is not None:
            self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(batch=st.lists(st.binary(min_size=1, max_size=8), min_size=0, max_size=300))
    def append(self, batch: list[bytes]) -> None:
        prepared = self.store.prepare(batch, self.dedup)
        first: dict[bytes, int] = {e: i for i, e in reversed(list(enumerate(self.entries)))}
        for entry, outcome in zip(batch, prepared.outcomes, strict=True):
            if self.dedup and entry in first:
                assert outcome.duplicate and outcome.index == first[entry]
                continue
            assert not outcome.duplicate and outcome.index == len(self.entries)
            assert outcome.leaf_hash == self.hasher.hash_leaf(entry)
            first[entry] = len(self.entries)
            self.entries.append(entry)
        self.store.commit(prepared)
        self.store.commit_checkpoint(len(self.entries), b"checkpoint %d" % len(self.entries))
        self.roots[len(self.entries)] = self.store.root

    @rule()
    def reopen(self) -> None:
        assert self.db is not None
        self.db.close()
        self.db = Database(self.dir)
        self.store = LogStore(self.db, ORIGIN, self.hasher)

    @precondition(lambda self: self.entries)
    @rule(data=st.data())
    def prove_inclusion(self, data: st.DataObject) -> None:
        size = data.draw(st.sampled_from(sorted(s for s in self.roots if s)))
        index = data.draw(st.integers(0, size - 1))
        proof = self.store.inclusion_proof(index, size)
        leaf = self.hasher.hash_leaf(self.entries[index])
        verify_inclusion(self.hasher, index, size, leaf, proof, self.roots[size])
        assert self.store.leaf_hash(index) == leaf
        assert self.store.index_of(leaf) is not None

    @rule(data=st.data())
    def prove_consistency(self, data: st.DataObject) -> None:
        sizes = sorted(self.roots)
        size2 = data.draw(st.sampled_from(sizes))
        size1 = data.draw(st.sampled_from([s for s in sizes if s <= size2]))
        proof = self.store.consistency_proof(size1, size2)
        verify_consistency(self.hasher, size1, size2, proof, self.roots[size1], self.roots[size2])

    @rule()
    def out_of_range(self) -> None:
        with pytest.raises(InvalidRangeError):
            self.store.inclusion_proof(len(self.entries), len(self.entries))
        with pytest.raises(InvalidRangeError):
            self.store.consistency_proof(0, len(self.entries) + 1)

    @invariant()
    def matches_model(self) -> None:
        if self.db is None:
            return
        assert self.store.size == len(self.entries)
        assert self.store.root == root_of(self.hasher, [self.hasher.hash_leaf(e) for e in self.entries])
        if self.entries:
            begin = max(0, len(self.entries) - 5)
            assert self.store.entries(begin, len(self.entries)) == self.entries[begin:]
            assert self.store.checkpoint() == b"checkpoint %d" % len(self.entries)


TestLogStore = LogStoreMachine.TestCase
TestLogStore.settings = settings(
    max_examples=25, stateful_step_count=20, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _filled(path: Path, n: int) -> None:
    db = Database(path)
    store = LogStore(db, ORIGIN, SHA256)
    store.commit(store.prepare([b"%d" % i for i in range(n)], True))
    db.close()


def test_stored_root_that_disagrees_with_the_compact_range_is_corruption(tmp_path: Path) -> None:
    _filled(tmp_path, 1000)
    db = Database(tmp_path)
    key = prefix(1) + b"S"
    state = bytearray(db.get(key) or b"")
    state[8] ^= 1  # first byte of the stored root
    batch = db.batch()
    batch.put(key, bytes(state))
    db.write(batch)
    with pytest.raises(CorruptionError, match="disagrees with the compact range"):
        LogStore(db, ORIGIN, SHA256)
    db.close()


def test_stored_node_that_disagrees_with_the_state_is_corruption(tmp_path: Path) -> None:
    _filled(tmp_path, 1000)
    db = Database(tmp_path)
    # Tile 0/3 holds the leaves 768..999; the compact range of 1000 has the node 3/124
    # (leaves 992..999) which lives in row 3 of that tile.
    key = prefix(1) + b"T" + bytes([0]) + (3).to_bytes(8, "big")
    tile = bytearray(db.get_stratum(key) or b"")
    tile[-1] ^= 1
    batch = db.batch()
    db.put_stratum(batch, key, bytes(tile))
    db.write(batch)
    with pytest.raises(CorruptionError, match="node"):
        LogStore(db, ORIGIN, SHA256)
    db.close()


def test_a_log_keeps_its_hash_function(tmp_path: Path) -> None:
    _filled(tmp_path, 3)
    db = Database(tmp_path)
    with pytest.raises(ValueError, match="created with hash sha256"):
        LogStore(db, ORIGIN, BLAKE3)
    db.close()


def test_abandoned_batch_leaves_no_trace(tmp_path: Path) -> None:
    db = Database(tmp_path)
    store = LogStore(db, ORIGIN, SHA256)
    store.commit(store.prepare([b"a", b"b", b"c"], True))
    store.prepare([b"x" * 10] * 1 + [b"y%d" % i for i in range(600)], False)
    store.abandon()
    store.commit(store.prepare([b"d"], True))
    assert store.root == root_of(SHA256, [SHA256.hash_leaf(e) for e in (b"a", b"b", b"c", b"d")])
    db.close()
    db = Database(tmp_path)
    assert LogStore(db, ORIGIN, SHA256).size == 4
    db.close()


def test_two_logs_in_one_database_are_independent(tmp_path: Path) -> None:
    db = Database(tmp_path)
    a = LogStore(db, "a.example/log", SHA256)
    b = LogStore(db, "b.example/log", BLAKE3)
    a.commit(a.prepare([b"same"], True))
    b.commit(b.prepare([b"same", b"other"], True))
    assert (a.size, b.size) == (1, 2)
    assert a.entries(0, 1) == [b"same"] and b.entries(0, 2) == [b"same", b"other"]
    assert db.log_ids() == {"a.example/log": 1, "b.example/log": 2}
    db.close()


def test_a_second_process_cannot_open_the_same_database(tmp_path: Path) -> None:
    db = Database(tmp_path)
    with pytest.raises(StorageError, match="cannot open database"):
        Database(tmp_path)
    db.close()


def test_a_checkpoint_is_committed_on_its_own_for_the_committed_tree(tmp_path: Path) -> None:
    db = Database(tmp_path)
    store = LogStore(db, ORIGIN, SHA256)
    store.commit(store.prepare([b"a", b"b", b"c"], True))
    assert (store.size, store.checkpoint_size, store.checkpoint()) == (3, 0, None)
    store.commit_checkpoint(2, b"two")
    store.commit_checkpoint(3, b"three", sync=False)
    for size in (1, 4):  # older than the latest one, or beyond the tree
        with pytest.raises(InvalidRangeError, match="want 3 to 3"):
            store.commit_checkpoint(size, b"no")
    db.close()
    db = Database(tmp_path)
    store = LogStore(db, ORIGIN, SHA256)
    assert (store.size, store.checkpoint_size) == (3, 3)
    assert (store.checkpoint(), store.checkpoint(2), store.checkpoint_sizes()) == (b"three", b"two", [2, 3])
    db.close()
