"""storage/proofs.py: proofs read from strata (path below the split, cached tail above it) equal
the plans of tree/proof.py folded over the reference tree, at every size, across three tile
levels, after the tree grew under a cached stratum, and with damage reported, not guessed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.storage import strata
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.layout import LogKeys
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.storage.proofs import ProofReader
from auditlog_tlog.tree.errors import CorruptionError, InvalidRangeError
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.nodes import NodeID
from auditlog_tlog.tree.proof import consistency_plan, inclusion_plan
from auditlog_tlog.tree.verify import verify_consistency, verify_inclusion
from tests.tree import reference

ORIGIN = "proofs.example/log"
# Past 2^16 leaves: the tree reaches tile level 2 (levels 16..23), and its rightmost strata of
# every tile level are partial.
BIG = 70_001


class Reference:
    """Every complete node of the tree of BIG leaves (leaf i hashes its 8-byte index)."""

    def __init__(self) -> None:
        self.leaves = reference.leaves(SHA256, BIG)
        self.nodes = reference.complete_nodes(SHA256, self.leaves)

    def inclusion(self, index: int, size: int) -> tuple[bytes, ...]:
        plan = inclusion_plan(index, size)
        return plan.fold(SHA256, [self.nodes[node] for node in plan.ids])

    def consistency(self, size1: int, size2: int) -> tuple[bytes, ...]:
        plan = consistency_plan(size1, size2)
        return plan.fold(SHA256, [self.nodes[node] for node in plan.ids])


def _entries(begin: int, end: int) -> list[bytes]:
    return [i.to_bytes(8, "big") for i in range(begin, end)]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LogStore, Reference]]:
    db = Database(tmp_path_factory.mktemp("big"))
    store = LogStore(db, ORIGIN, SHA256)
    for first in range(0, BIG, 7_000):
        store.commit(store.prepare(_entries(first, min(BIG, first + 7_000)), False))
    yield store, Reference()
    db.close()


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_proofs_equal_the_plans_over_the_reference_tree(
    big: tuple[LogStore, Reference], data: st.DataObject
) -> None:
    store, tree = big
    size = data.draw(st.one_of(st.integers(1, BIG), st.sampled_from([1, 255, 256, 257, 65_536,
                                                                     65_537, BIG])), label="size")
    index = data.draw(st.one_of(st.integers(0, size - 1), st.just(size - 1)), label="index")
    want = tree.inclusion(index, size)
    assert store.inclusion_proof(index, size) == want
    assert store.inclusion(index, size) == (tree.leaves[index], want)
    size1 = data.draw(st.integers(0, size), label="size1")
    assert store.consistency_proof(size1, size) == tree.consistency(size1, size)


def test_a_page_of_proofs_equals_one_proof_each(big: tuple[LogStore, Reference]) -> None:
    store, tree = big
    indexes = [BIG - 1, BIG - 2, 65_535, 65_536, 300, 0, 69_000, 12_345]
    for size in (BIG, 65_537, 69_001):
        page = [i for i in indexes if i < size]
        assert store.inclusion_proofs(page, size) == [tree.inclusion(i, size) for i in page]
    with pytest.raises(InvalidRangeError, match="index 70001 is not in a tree of size 70001"):
        store.inclusion_proofs([1, BIG], BIG)


def test_a_stratum_read_before_the_tree_grew_is_read_again(tmp_path: Path) -> None:
    """Proofs at 300 cache the partial strata (0, 1) and (1, 0); at 700 they hold more."""
    db = Database(tmp_path)
    store = LogStore(db, ORIGIN, SHA256)
    tree = Reference()
    roots = {}
    for end in (300, 513, 700):
        store.commit(store.prepare(_entries(store.size, end), False))
        roots[end] = store.root
        for size in roots:
            for index in range(size):
                proof = store.inclusion_proof(index, size)
                assert proof == tree.inclusion(index, size), (index, size)
                verify_inclusion(SHA256, index, size, tree.leaves[index], proof, roots[size])
            for size1 in range(size + 1):
                proof = store.consistency_proof(size1, size)
                if size1 in roots:
                    verify_consistency(SHA256, size1, size, proof, roots[size1], roots[size])
                assert proof == tree.consistency(size1, size)
    db.close()


def test_a_missing_stratum_is_damage(tmp_path: Path) -> None:
    db = Database(tmp_path)
    store = LogStore(db, ORIGIN, SHA256)
    store.commit(store.prepare(_entries(0, 1000), False))
    batch = db.batch()
    db.delete_strata(batch, store.keys.tile(0, 1), store.keys.tile(0, 2))
    db.write(batch)
    again = LogStore(db, ORIGIN, SHA256)  # nothing of tile 0/1 cached
    with pytest.raises(CorruptionError, match="tree nodes missing in tile 0/1"):
        again.inclusion_proof(300, 1000)
    with pytest.raises(CorruptionError, match="appends and signs no more"):
        again.prepare([b"more"], False)
    assert again.inclusion_proof(900, 1000) == Reference().inclusion(900, 1000)
    db.close()


def test_a_damaged_read_is_damage_to_the_log_and_names_it() -> None:
    """The reader reads the database itself (no wrapper per read): a CorruptionError of the
    database is recorded as the log's damage, with the log's name, and nothing is cached."""
    recorded: list[CorruptionError] = []

    def damaged(exc: CorruptionError) -> CorruptionError:
        recorded.append(exc)
        return exc

    def get(key: bytes) -> bytes | None:
        raise CorruptionError(f"reading key {key[:6].hex()}: the database is damaged")

    reader = ProofReader(ORIGIN, SHA256, LogKeys(b"L\x00\x00\x00\x01"), get, damaged)
    with pytest.raises(CorruptionError, match=f"log '{ORIGIN}': reading key .* damaged") as info:
        reader.consistency(300, 1000)
    assert recorded == [info.value]
    assert reader.cached_bytes == 0


def test_the_cache_keeps_its_bounds_and_drops_reads_from_before_a_clear() -> None:
    cache = strata.StrataCache(leaf_slots=4, upper_bytes=64)
    for index in range(10):
        cache.put(0, index, bytes([index]) * 32, cache.generation)
        cache.put(1, index, bytes(32), cache.generation)
    assert cache.held == 4 * 32 + 64
    # Slot i % 4 holds the latest of its strata; the upper pool the two read last.
    assert [cache.get(0, i) is not None for i in range(10)] == [False] * 6 + [True] * 4
    assert cache.get(0, 9) == bytes([9]) * 32
    assert [cache.get(1, i) is not None for i in range(10)] == [False] * 8 + [True] * 2
    cache.put(2, 0, bytes(96), cache.generation)  # larger than its pool: not kept
    assert cache.get(2, 0) is None
    before = cache.generation
    cache.clear()
    assert cache.held == 0 and cache.get(0, 9) is None and cache.get(1, 9) is None
    cache.put(0, 9, bytes(32), before)  # read before the clear: may hold dropped nodes
    cache.put(1, 9, bytes(32), before)
    assert cache.get(0, 9) is None and cache.get(1, 9) is None
    with pytest.raises(ValueError, match="got 3, want a power of two"):
        strata.StrataCache(3, 64)


def test_a_stratum_read_before_a_clear_is_not_kept_after_it(tmp_path: Path) -> None:
    """A proof's read of a leaf stratum is kept in the cache's slots without the lock: one
    that a clear (the database reopened) overtakes while it reads lands in the slots the
    clear dropped, so the proof is served and nothing read before the clear stays cached."""
    db = Database(tmp_path)
    store = LogStore(db, ORIGIN, SHA256)
    store.commit(store.prepare([b"%d" % i for i in range(1000)], False))
    reads: list[bytes] = []

    def get(key: bytes) -> bytes | None:
        reads.append(key)
        if key == store.keys.tile(0, 1):  # the stratum of leaf 300
            reader.clear()  # while this read is under way
        return db.read_stratum(key)

    reader = ProofReader(ORIGIN, SHA256, store.keys, get, lambda exc: exc)
    assert reader.inclusion(300, 1000, False)[1] == store.inclusion_proof(300, 1000)
    assert store.keys.tile(0, 1) in reads
    assert reader._cache.get(0, 1) is None
    reads.clear()
    reader.inclusion(300, 1000, False)
    assert store.keys.tile(0, 1) in reads  # read again, not served from before the clear

    def quiet(key: bytes) -> bytes | None:
        reads.append(key)
        return db.read_stratum(key)

    reader = ProofReader(ORIGIN, SHA256, store.keys, quiet, lambda exc: exc)
    reader.inclusion(300, 1000, False)
    reads.clear()
    assert reader.inclusion(301, 1000, False)[1] == store.inclusion_proof(301, 1000)
    assert reads == [] and reader.cached_bytes > 0  # without a clear, kept
    db.close()


def test_path_getter_slices_a_stratum_and_says_what_it_lacks() -> None:
    s = strata.Stratum(0, 0)
    for position in range(6):  # width 6: rows of 6, 3, 1 hashes
        s.add(0, position, bytes([0, position]) * 16)
    s.add(1, 0, bytes([1, 0]) * 16)
    s.add(1, 1, bytes([1, 1]) * 16)
    s.add(1, 2, bytes([1, 2]) * 16)
    s.add(2, 0, bytes([2, 0]) * 16)
    value = s.value()

    def cut(byte: int, first: int, end: int, node: int) -> tuple[bytes, ...] | None:
        getter = strata.path_getter(len(value), byte, first, end, node)
        return None if getter is None else getter(value)

    # Leaf 2: itself, its sibling 3 at row 0, then (1, 0) at row 1.
    assert cut(2, 0, 2, 0) == (s.node(0, 2), s.node(0, 3), s.node(1, 0))
    assert cut(2, 1, 2, -1) == (s.node(1, 0),)
    assert cut(5, 0, 1, -1) == (s.node(0, 4),)
    assert cut(4, 1, 1, 1) == (s.node(1, 2),)  # a consistency proof's seed alone
    # Leaf 4's sibling at row 1 is (1, 3): not complete in a stratum of width 6.
    assert NodeID(1, 3).end > 6
    assert cut(4, 0, 2, -1) is None
    assert (len(value), 4, 0, 2, -1) not in strata.GETTERS  # asked again once it may be there
