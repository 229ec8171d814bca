"""tree.proof: plans name complete nodes only, and plan + fold gives RFC 6962 PATH and PROOF."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.tree.compact import CompactRange
from auditlog_tlog.tree.errors import InvalidRangeError
from auditlog_tlog.tree.hashing import BLAKE3, SHA256, Hasher
from auditlog_tlog.tree.nodes import MAX_SIZE, NodeID, decompose
from auditlog_tlog.tree.proof import ProofPlan, consistency_plan, inclusion_plan
from auditlog_tlog.tree.verify import verify_consistency, verify_inclusion
from tests.tree import reference

HASHERS = pytest.mark.parametrize("hasher", [SHA256, BLAKE3], ids=lambda h: h.name)
hashers = st.sampled_from([SHA256, BLAKE3])
MAX_TREE = 4096


class Store:
    """All complete nodes of one tree, read the way storage would for a tree of ``size``."""

    def __init__(self, hasher: Hasher, size: int) -> None:
        self.leaves = reference.leaves(hasher, size)
        self.nodes = reference.complete_nodes(hasher, self.leaves)

    def read(self, plan: ProofPlan, size: int) -> list[bytes]:
        assert len(set(plan.ids)) == len(plan.ids), f"a node is read twice: {plan.ids}"
        for node in plan.ids:
            assert node.end <= size, f"{node} is not complete in the tree of size {size}"
        return [self.nodes[node] for node in plan.ids]


STORES = {hasher.name: Store(hasher, MAX_TREE) for hasher in (SHA256, BLAKE3)}


def inclusion(hasher: Hasher, index: int, size: int) -> list[bytes]:
    plan = inclusion_plan(index, size)
    return list(plan.fold(hasher, STORES[hasher.name].read(plan, size)))


def consistency(hasher: Hasher, size1: int, size2: int) -> list[bytes]:
    plan = consistency_plan(size1, size2)
    return list(plan.fold(hasher, STORES[hasher.name].read(plan, size2)))


@HASHERS
def test_exhaustive_small_trees(hasher: Hasher) -> None:
    leaves = STORES[hasher.name].leaves
    for size in range(1, 65):
        for index in range(size):
            want = reference.path(hasher, index, leaves[:size])
            assert inclusion(hasher, index, size) == want, (index, size)
            # Proof length is inner + border, as in RFC 9162 §2.1.3.1's note.
            inner = (index ^ (size - 1)).bit_length()
            assert len(want) == inner + (index >> inner).bit_count()
        for size1 in range(size + 1):
            want = reference.proof(hasher, size1, leaves[:size]) if size1 else []
            assert consistency(hasher, size1, size) == want, (size1, size)


@given(hashers, st.integers(1, MAX_TREE), st.data())
@settings(max_examples=400, deadline=None)
def test_inclusion_is_path(hasher: Hasher, size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1), label="index")
    leaves = STORES[hasher.name].leaves[:size]
    assert inclusion(hasher, index, size) == reference.path(hasher, index, leaves)


@given(hashers, st.integers(1, MAX_TREE), st.data())
@settings(max_examples=400, deadline=None)
def test_consistency_is_proof(hasher: Hasher, size2: int, data: st.DataObject) -> None:
    size1 = data.draw(st.integers(0, size2), label="size1")
    leaves = STORES[hasher.name].leaves[:size2]
    want = reference.proof(hasher, size1, leaves) if size1 else []
    assert consistency(hasher, size1, size2) == want


def uniform_tree(hasher: Hasher) -> list[bytes]:
    """Node hashes by level for a tree whose leaves all hash alike: any size, no storage."""
    level = [hasher.hash_leaf(b"same")]
    for _ in range(64):
        level.append(hasher.hash_children(level[-1], level[-1]))
    return level


def uniform_root(hasher: Hasher, by_level: list[bytes], size: int) -> bytes:
    ids = decompose(0, size)
    return CompactRange(hasher, 0, size, [by_level[node.level] for node in ids]).root()


@given(hashers, st.integers(1, MAX_SIZE), st.data())
@settings(max_examples=100, deadline=None)
def test_huge_trees(hasher: Hasher, size2: int, data: st.DataObject) -> None:
    """Up to 2^64 - 1 leaves: plans name complete nodes only, and their proofs verify."""
    by_level = uniform_tree(hasher)
    root2 = uniform_root(hasher, by_level, size2)
    index = data.draw(st.integers(0, size2 - 1), label="index")
    plan = inclusion_plan(index, size2)
    assert all(node.end <= size2 for node in plan.ids)
    assert len(set(plan.ids)) == len(plan.ids)
    proof = plan.fold(hasher, [by_level[node.level] for node in plan.ids])
    verify_inclusion(hasher, index, size2, by_level[0], proof, root2)
    size1 = data.draw(st.integers(0, size2), label="size1")
    plan = consistency_plan(size1, size2)
    assert all(node.end <= size2 for node in plan.ids)
    assert len(set(plan.ids)) == len(plan.ids)
    proof = plan.fold(hasher, [by_level[node.level] for node in plan.ids])
    root1 = uniform_root(hasher, by_level, size1)
    verify_consistency(hasher, size1, size2, proof, root1, root2)


def test_plan_names_each_node_once_in_proof_order() -> None:
    # Leaf 2 of 7 (the picture in tree/proof.py): two inner siblings, then [4, 7) from two nodes.
    plan = inclusion_plan(2, 7)
    assert plan.ids == (NodeID(0, 3), NodeID(1, 0), NodeID(0, 6), NodeID(1, 2))
    assert inclusion_plan(0, 1).ids == ()
    assert consistency_plan(4, 8).ids == (NodeID(2, 1),)
    # A size1 that is not a power of two brings its last complete node first.
    assert consistency_plan(6, 8).ids[0] == NodeID(1, 2)


def test_empty_plans() -> None:
    for size1, size2 in [(0, 0), (0, 1), (0, MAX_SIZE), (5, 5), (MAX_SIZE, MAX_SIZE)]:
        plan = consistency_plan(size1, size2)
        assert plan.ids == ()
        assert plan.fold(SHA256, []) == ()


def test_bad_ranges() -> None:
    for index, size in [(0, 0), (3, 3), (4, 3), (-1, 3), (0, MAX_SIZE + 1)]:
        with pytest.raises(InvalidRangeError, match="got"):
            inclusion_plan(index, size)
    for size1, size2 in [(4, 3), (-1, 3), (1, MAX_SIZE + 1)]:
        with pytest.raises(InvalidRangeError, match="got"):
            consistency_plan(size1, size2)


def test_fold_wants_one_hash_per_node() -> None:
    plan = inclusion_plan(2, 7)
    with pytest.raises(ValueError, match="got 3 hashes, want 4"):
        plan.fold(SHA256, [bytes(32)] * 3)
    with pytest.raises(ValueError, match="fold range"):
        ProofPlan((NodeID(0, 0),), 0, 2)
