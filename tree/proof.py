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


def split_level(anchor: int, level: int, size: int) -> int:
    """The level where the path up from the node at ``level`` over leaf ``anchor`` meets the
    path to the last leaf of the tree of ``size`` (``anchor < size``).

    Both paths run together from the root down to this level: ``anchor`` and ``size - 1`` agree
    in every bit from it up, and differ in the bit just below it (if it is above ``level``).
    Everything a proof holds from this level up therefore depends on ``size`` and the split
    alone (:func:`tail_plan`), not on which leaf is proven; the nodes below it are the path's
    siblings ``NodeID(l, (anchor >> l) ^ 1)`` for ``level <= l < split - 1``.
    """
    return max(level, (anchor ^ (size - 1)).bit_length())


def tail_plan(size: int, split: int, sibling: bool) -> ProofPlan:
    """Plan the part of a proof at and above the split (:func:`split_level`), in proof order.

    With ``sibling``, it starts with the sibling at level ``split - 1``, which holds the last
    leaf: it is the node ``(split - 1, (size - 1) >> (split - 1))``, ephemeral if it extends
    past ``size`` (then replaced by the complete nodes covering ``[its begin, size)``). Then
    one "border" node for every set bit of ``(size - 1) >> split``: there the path is a right
    child, so its left sibling (the index with that bit cleared) is in the proof.
    """
    ids: list[NodeID] = []
    fold_end = 0
    if sibling:
        top = split - 1
        index = (size - 1) >> top
        if (index + 1) << top <= size:
            ids.append(NodeID(top, index))
        else:
            # The ephemeral sibling covers [index << top, size). That range starts on a multiple
            # of 2^top and is shorter, so its complete nodes are one per set bit of its length,
            # largest on the left. List them smallest first, which suits the fold.
            position = size
            rest = size - (index << top)
            while rest:
                width = rest & -rest  # The lowest set bit: the smallest remaining node.
                position -= width
                ids.append(NodeID(width.bit_length() - 1, position // width))
                rest ^= width
            fold_end = len(ids)
    up = (size - 1) >> split
    top = split
    while up:
        if up & 1:
            ids.append(NodeID(top, up ^ 1))
        up >>= 1
        top += 1
    return ProofPlan(tuple(ids), 0, fold_end)


def _path(level: int, index: int, size: int, seed: NodeID | None) -> ProofPlan:
    """Plan the path from the complete node (level, index) to the root of the tree of ``size``.

    ``seed`` is put first in the plan, ahead of the path (consistency proofs need it).

    Below the split (:func:`split_level`) the proof takes the sibling at every level ("inner"
    nodes), all complete (they lie left of the path to the last leaf); the rest is the tail
    (:func:`tail_plan`), so the proof has ``inner + popcount(index >> inner)`` hashes, with
    ``inner = split - level``.
    """
    split = split_level(index << level, level, size)
    ids: list[NodeID] = [] if seed is None else [seed]
    for i in range(level, split - 1):
        # ``(index >> (i - level)) ^ 1`` flips the lowest bit: the sibling at level i.
        ids.append(NodeID(i, ((index >> (i - level)) ^ 1)))
    tail = tail_plan(size, split, split > level)
    shift = len(ids)
    return ProofPlan((*ids, *tail.ids), tail._fold_begin + shift, tail._fold_end + shift)


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
