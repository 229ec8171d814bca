"""Which stored nodes an RFC 6962 proof needs, and how to fold their hashes into the proof.

Inclusion proofs are PATH of RFC 6962 §2.1.1 (= RFC 9162 §2.1.3.1), consistency proofs PROOF of
RFC 6962 §2.1.2 (= RFC 9162 §2.1.4.1); both are ordered leaf-to-root. Building one is split in
two, like transparency-dev/merkle's proof package: a :class:`ProofPlan` names the *complete*
nodes to read (hashes that never change, so a proof at any older size works from the same
store), then :meth:`ProofPlan.fold` turns the hashes read into the proof. A proof hash that is
not a complete subtree (a node on the right border of the tree) is rebuilt from the complete
nodes under it.

The proof for leaf 2 in the tree of size 7 (``*`` marks what the proof holds)::

                  root
               /        \\
          (2,0)          [4,7)*      <- ephemeral: HASH(0x01 || (1,2) || (0,6))
         /     \\        /     \\
     (1,0)*   (1,1)   (1,2)   (0,6)
      / \\     / \\     / \\
     0   1   2   3*  4   5

    plan.ids = ((0,3), (1,0), (0,6), (1,2)), the last two folded into one hash;
    proof = [hash(0,3), hash(1,0), HASH(0x01 || hash(1,2) || hash(0,6))]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from auditlog_tlog.tree.errors import InvalidRangeError
from auditlog_tlog.tree.hashing import Hasher
from auditlog_tlog.tree.nodes import MAX_SIZE, NodeID


@dataclass(frozen=True, slots=True)
class ProofPlan:
    """The complete nodes a proof needs and how to fold their hashes into the proof.

    ``ids`` are in proof order, except that the hashes of ``ids[_fold_begin:_fold_end]`` (when
    that slice is not empty) are folded into a single proof hash: they are the complete nodes
    under one ephemeral node, listed from the lowest level up.
    """

    ids: tuple[NodeID, ...]
    _fold_begin: int = 0
    _fold_end: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self._fold_begin <= self._fold_end <= len(self.ids):
            raise ValueError(
                f"fold range: got [{self._fold_begin}, {self._fold_end}), "
                f"want within [0, {len(self.ids)})"
            )

    def fold(self, hasher: Hasher, hashes: Sequence[bytes]) -> tuple[bytes, ...]:
        """Return the proof, given ``hashes[i]`` = the hash of ``ids[i]``."""
        if len(hashes) != len(self.ids):
            raise ValueError(f"fold: got {len(hashes)} hashes, want {len(self.ids)}")
        begin, end = self._fold_begin, self._fold_end
        if end - begin < 2:
            return tuple(hashes)
        # The nodes under an ephemeral node shrink from left to right (it starts at a multiple
        # of its own width), so folding them from the smallest, rightmost one rebuilds it.
        hash_children = hasher.hash_children
        ephemeral = hashes[begin]
        for i in range(begin + 1, end):
            ephemeral = hash_children(hashes[i], ephemeral)
        return (*hashes[:begin], ephemeral, *hashes[end:])


_EMPTY = ProofPlan(ids=())


def _path(level: int, index: int, size: int, seed: NodeID | None) -> ProofPlan:
    """Plan the path from the complete node (level, index) to the root of the tree of ``size``.

    ``seed`` is put first in the plan, ahead of the path (consistency proofs need it).

    Write ``last = (size - 1) >> level`` for the node at this level on the path to the last
    leaf. The paths to ``index`` and ``last`` run together from the root down to the level
    ``inner = bitlen(index ^ last)`` (counted up from ``level``) and split just below it.

    * Below the split, the proof takes the sibling at every level ("inner" nodes). All of them
      lie left of ``last``'s path and are complete, except maybe the topmost, which holds the last
      leaf: if it extends past ``size`` it is ephemeral, and is replaced by the complete nodes
      covering ``[its begin, size)``.
    * From the split up, the path runs along the right border of the tree. Where it is a right
      child, its left sibling is in the proof ("border" nodes): one per set bit of
      ``index >> inner``, so the proof has ``inner + popcount(index >> inner)`` hashes.
    """
    inner = (index ^ ((size - 1) >> level)).bit_length()
    ids: list[NodeID] = [] if seed is None else [seed]
    for i in range(level, level + inner - 1):
        # ``(index >> (i - level)) ^ 1`` flips the lowest bit: the sibling at level i.
        ids.append(NodeID(i, ((index >> (i - level)) ^ 1)))
    fold_begin = fold_end = 0
    if inner:
        top = level + inner - 1
        sibling = (index >> (inner - 1)) ^ 1
        if (sibling + 1) << top <= size:
            ids.append(NodeID(top, sibling))
        else:
            # The ephemeral sibling covers [sibling << top, size). That range starts on a multiple
            # of 2^top and is shorter, so its complete nodes are one per set bit of its length,
            # largest on the left. List them smallest first, which suits the fold.
            fold_begin = len(ids)
            position = size
            rest = size - (sibling << top)
            while rest:
                width = rest & -rest  # The lowest set bit: the smallest remaining node.
                position -= width
                ids.append(NodeID(width.bit_length() - 1, position // width))
                rest ^= width
            fold_end = len(ids)
    # Border nodes: every set bit of what is left of the index above the split is a level where
    # the path is a right child, so the left sibling (its index with that bit cleared) is needed.
    up = index >> inner
    top = level + inner
    while up:
        if up & 1:
            ids.append(NodeID(top, up ^ 1))
        up >>= 1
        top += 1
    return ProofPlan(tuple(ids), fold_begin, fold_end)


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """Plan PATH(index, D[size]) of RFC 6962 §2.1.1; needs ``0 <= index < size < 2^64``."""
    if not 0 <= index < size <= MAX_SIZE:
        raise InvalidRangeError(
            f"inclusion proof: got index {index} and size {size}, want 0 <= index < size < 2^64"
        )
    return _path(0, index, size, None)


def consistency_plan(size1: int, size2: int) -> ProofPlan:
    """Plan PROOF(size1, D[size2]) of RFC 6962 §2.1.2; needs ``0 <= size1 <= size2 < 2^64``.

    The proof is empty for ``size1 == size2`` and for ``size1 == 0`` (the empty tree is a prefix
    of every tree, and tlog-witness wants an empty proof from size 0).

    Otherwise the proof is the path from the last complete subtree of the old tree (the node
    ``decompose(0, size1)[-1]``, found from the trailing zero bits of ``size1``) to the new root,
    preceded by that node itself unless it is the whole old tree (``size1`` a power of two), in
    which case the verifier knows it already as the old root.
    """
    if not 0 <= size1 <= size2 <= MAX_SIZE:
        raise InvalidRangeError(
            f"consistency proof: got sizes {size1} and {size2}, want 0 <= size1 <= size2 < 2^64"
        )
    if size1 == 0 or size1 == size2:
        return _EMPTY
    # ``size1 & -size1`` isolates the lowest set bit of size1: the width of the last node.
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    return _path(level, index, size2, NodeID(level, index) if index else None)
