"""tree.verify: generated proofs verify, and every corruption of one fails.

A proof does not authenticate the tree size on its own: a proof checked against the root it was
made for can also pass for another size with the same shape (leaf 0 of 3 and leaf 0 of 4 both
hash the proof in on the right). The size is bound to the root by the signed checkpoint, so the
"wrong size" cases below pair each claimed size with the true root of that size.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.tree.errors import VerificationError
from auditlog_tlog.tree.hashing import BLAKE3, SHA256, Hasher
from auditlog_tlog.tree.nodes import MAX_SIZE
from auditlog_tlog.tree.proof import consistency_plan, inclusion_plan
from auditlog_tlog.tree.verify import root_from_inclusion_proof, verify_consistency, verify_inclusion
from tests.tree import reference

HASHERS = pytest.mark.parametrize("hasher", [SHA256, BLAKE3], ids=lambda h: h.name)
hashers = st.sampled_from([SHA256, BLAKE3])
MAX_TREE = 600


class Tree:
    """One reference tree per hasher: leaves, complete nodes and the root at every size."""

    def __init__(self, hasher: Hasher) -> None:
        self.hasher = hasher
        self.leaves = reference.leaves(hasher, MAX_TREE)
        self.nodes = reference.complete_nodes(hasher, self.leaves)
        self.roots = [reference.mth(hasher, self.leaves[:size]) for size in range(MAX_TREE + 1)]

    def inclusion(self, index: int, size: int) -> list[bytes]:
        plan = inclusion_plan(index, size)
        return list(plan.fold(self.hasher, [self.nodes[node] for node in plan.ids]))

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        plan = consistency_plan(size1, size2)
        return list(plan.fold(self.hasher, [self.nodes[node] for node in plan.ids]))


TREES = {hasher.name: Tree(hasher) for hasher in (SHA256, BLAKE3)}


def flip(value: bytes, bit: int) -> bytes:
    """``value`` with one bit inverted."""
    out = bytearray(value)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


def corruptions(proof: list[bytes], draw: st.DataObject) -> list[list[bytes]]:
    """Damaged copies of ``proof``: a bit flip in every hash, truncated, extended, swapped."""
    bad: list[list[bytes]] = []
    for i in range(len(proof)):
        bit = draw.draw(st.integers(0, 255), label=f"bit in hash {i}")
        bad.append([*proof[:i], flip(proof[i], bit), *proof[i + 1 :]])
    if proof:
        bad.append(proof[:-1])
        bad.append(proof[1:])
    extra = draw.draw(st.binary(min_size=32, max_size=32), label="extra hash")
    bad.append([*proof, extra])
    position = draw.draw(st.integers(0, len(proof)), label="insert at")
    bad.append([*proof[:position], extra, *proof[position:]])
    for i in range(len(proof)):
        for j in range(i + 1, len(proof)):
            if proof[i] != proof[j]:
                swapped = list(proof)
                swapped[i], swapped[j] = swapped[j], swapped[i]
                bad.append(swapped)
    return bad


@given(hashers, st.integers(1, MAX_TREE), st.data())
@settings(max_examples=400, deadline=None)
def test_inclusion_and_its_corruptions(hasher: Hasher, size: int, data: st.DataObject) -> None:
    tree = TREES[hasher.name]
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, root = tree.leaves[index], tree.roots[size]
    proof = tree.inclusion(index, size)
    verify_inclusion(hasher, index, size, leaf, proof, root)
    assert root_from_inclusion_proof(hasher, index, size, leaf, proof) == root
    for bad in corruptions(proof, data):
        with pytest.raises(VerificationError):
            verify_inclusion(hasher, index, size, leaf, bad, root)
    for other in range(max(0, index - 3), min(size, index + 4)):
        if other != index:
            with pytest.raises(VerificationError):
                verify_inclusion(hasher, other, size, leaf, proof, root)
            with pytest.raises(VerificationError):
                verify_inclusion(hasher, other, size, tree.leaves[other], proof, root)
    for other in range(max(1, size - 3), min(MAX_TREE, size + 4)):
        if other != size:
            with pytest.raises(VerificationError):
                verify_inclusion(hasher, index, other, leaf, proof, tree.roots[other])
    bit = data.draw(st.integers(0, 255), label="bit in root")
    with pytest.raises(VerificationError):
        verify_inclusion(hasher, index, size, leaf, proof, flip(root, bit))
    with pytest.raises(VerificationError):
        verify_inclusion(hasher, index, size, flip(leaf, bit), proof, root)


@given(hashers, st.integers(1, MAX_TREE), st.data())
@settings(max_examples=400, deadline=None)
def test_consistency_and_its_corruptions(hasher: Hasher, size2: int, data: st.DataObject) -> None:
    tree = TREES[hasher.name]
    size1 = data.draw(st.integers(0, size2), label="size1")
    root1, root2 = tree.roots[size1], tree.roots[size2]
    proof = tree.consistency(size1, size2)
    verify_consistency(hasher, size1, size2, proof, root1, root2)
    for bad in corruptions(proof, data):
        with pytest.raises(VerificationError):
            verify_consistency(hasher, size1, size2, bad, root1, root2)
    for other in range(max(0, size1 - 3), min(size2 + 1, size1 + 4)):
        # An empty proof rightly passes from size 0 and between equal sizes.
        if other != size1 and (proof or other not in (0, size2)):
            with pytest.raises(VerificationError):
                verify_consistency(hasher, other, size2, proof, tree.roots[other], root2)
    for other in range(max(size1, size2 - 3), min(MAX_TREE, size2 + 4)):
        if other != size2 and size1 != 0:
            with pytest.raises(VerificationError):
                verify_consistency(hasher, size1, other, proof, root1, tree.roots[other])
    bit = data.draw(st.integers(0, 255), label="bit in root")
    with pytest.raises(VerificationError):
        verify_consistency(hasher, size1, size2, proof, flip(root1, bit), root2)
    if size1 != 0:  # From size 0 there is nothing that root2 could be checked against.
        with pytest.raises(VerificationError):
            verify_consistency(hasher, size1, size2, proof, root1, flip(root2, bit))


@HASHERS
def test_exhaustive_small_trees(hasher: Hasher) -> None:
    tree = TREES[hasher.name]
    for size in range(1, 65):
        for index in range(size):
            verify_inclusion(
                hasher, index, size, tree.leaves[index], tree.inclusion(index, size), tree.roots[size]
            )
        for size1 in range(size + 1):
            proof = tree.consistency(size1, size)
            verify_consistency(hasher, size1, size, proof, tree.roots[size1], tree.roots[size])


def test_size_zero_and_equal_sizes() -> None:
    tree = TREES["sha256"]
    empty, root = SHA256.empty_root(), tree.roots[5]
    verify_consistency(SHA256, 0, 0, [], empty, empty)
    verify_consistency(SHA256, 0, 5, [], empty, root)
    verify_consistency(SHA256, 5, 5, [], root, root)
    with pytest.raises(VerificationError, match="root1 of the empty tree: got"):
        verify_consistency(SHA256, 0, 5, [], bytes(32), root)
    with pytest.raises(VerificationError, match="root1 of the empty tree: got"):
        verify_consistency(SHA256, 0, 0, [], root, root)
    with pytest.raises(VerificationError, match="root at equal size 0: got"):
        verify_consistency(SHA256, 0, 0, [], empty, root)
    verify_consistency(BLAKE3, 0, 0, [], BLAKE3.empty_root(), BLAKE3.empty_root())
    with pytest.raises(VerificationError, match="root1 of the empty tree: got"):
        verify_consistency(BLAKE3, 0, 0, [], empty, empty)
    with pytest.raises(VerificationError, match="got 1 hashes, want 0"):
        verify_consistency(SHA256, 0, 5, [root], empty, root)
    with pytest.raises(VerificationError, match="got 1 hashes, want 0"):
        verify_consistency(SHA256, 5, 5, [root], root, root)
    with pytest.raises(VerificationError, match="root at equal size 5: got"):
        verify_consistency(SHA256, 5, 5, [], root, tree.roots[4])
    with pytest.raises(VerificationError, match="got 0 hashes, want at least 1"):
        verify_consistency(SHA256, 4, 5, [], tree.roots[4], root)


def test_bounded_input() -> None:
    tree = TREES["sha256"]
    root, leaf = tree.roots[5], tree.leaves[0]
    for index, size in [(5, 5), (-1, 5), (0, 0), (0, MAX_SIZE + 1)]:
        with pytest.raises(VerificationError, match="want 0 <= index < size < 2"):
            verify_inclusion(SHA256, index, size, leaf, [], root)
    for size1, size2 in [(6, 5), (-1, 5), (0, MAX_SIZE + 1)]:
        with pytest.raises(VerificationError, match="want 0 <= size1 <= size2 < 2"):
            verify_consistency(SHA256, size1, size2, [], root, root)
    with pytest.raises(VerificationError, match="got 65 hashes, want at most 64"):
        verify_inclusion(SHA256, 0, MAX_SIZE, leaf, [leaf] * 65, root)
    with pytest.raises(VerificationError, match="got 66 hashes, want at most 65"):
        verify_consistency(SHA256, 3, MAX_SIZE, [leaf] * 66, root, root)
    with pytest.raises(VerificationError, match="proof hash 1: got 31 bytes, want 32"):
        verify_inclusion(SHA256, 0, 5, leaf, [leaf, leaf[:31]], root)
    with pytest.raises(VerificationError, match="leaf hash: got 0 bytes, want 32"):
        verify_inclusion(SHA256, 0, 5, b"", [], root)
    with pytest.raises(VerificationError, match="root: got 33 bytes, want 32"):
        verify_inclusion(SHA256, 0, 1, leaf, [], root + b"\x00")
    for root1, root2, what in [(root[:1], root, "root1"), (root, b"", "root2")]:
        with pytest.raises(VerificationError, match=f"{what}: got"):
            verify_consistency(SHA256, 5, 5, [], root1, root2)


def test_messages_say_what_failed() -> None:
    tree = TREES["sha256"]
    proof = tree.inclusion(2, 7)
    with pytest.raises(VerificationError, match="got 4 hashes, want 3 for index 2, size 7"):
        verify_inclusion(SHA256, 2, 7, tree.leaves[2], [*proof, proof[0]], tree.roots[7])
    with pytest.raises(VerificationError, match="got 2 hashes, too few"):
        verify_inclusion(SHA256, 2, 7, tree.leaves[2], proof[:2], tree.roots[7])
    with pytest.raises(VerificationError, match=f"root: got [0-9a-f]{{64}}, want {'00' * 32}"):
        verify_inclusion(SHA256, 2, 7, tree.leaves[2], proof, bytes(32))
    proof = tree.consistency(3, 7)
    with pytest.raises(VerificationError, match="root2: got"):
        verify_consistency(SHA256, 3, 7, proof, tree.roots[3], tree.roots[6])
    with pytest.raises(VerificationError, match="too many"):
        verify_consistency(SHA256, 3, 7, [*proof, proof[0]], tree.roots[3], tree.roots[7])
    with pytest.raises(VerificationError, match="too few"):
        verify_consistency(SHA256, 3, 7, proof[:-1], tree.roots[3], tree.roots[7])
