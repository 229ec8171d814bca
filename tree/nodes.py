"""Node ids and range decomposition of the RFC 6962 §2.1 (= RFC 9162 §2.1) Merkle tree.

A node is named by its ``level`` (0 for a leaf) and its ``index`` among the nodes of that level,
so ``NodeID(level, index)`` covers the leaves ``[index << level, (index + 1) << level)``. Only
*complete* (perfect) subtrees get an id; their hashes never change once the last leaf under them
has been appended, which is what lets storage write each of them exactly once.

The tree of size 6 and the compact range ``[1, 6)``, i.e. ``decompose(1, 6)``::

    level 2          (2,0)
                    /     \\
    level 1     (1,0)     (1,1)     (1,2)
                /   \\     /   \\     /   \\
    level 0   0     [1]  [2     3]  [4     5]

    decompose(1, 6) == (NodeID(0, 1), NodeID(1, 1), NodeID(1, 2))

The shape of the tree of ``size`` leaves is fixed by RFC 6962 §2.1: the left subtree of a tree of
``n > 1`` leaves holds ``largest_power_of_two_below(n)`` leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from auditlog_tlog.tree.encoding import MAX_UINT64

MAX_LEVEL: Final = 64
"""No node is higher than level 64: the root of 2^64 leaves."""

MAX_SIZE: Final = MAX_UINT64
"""The largest tree size: sizes and indices are uint64 on the wire."""


@dataclass(frozen=True, slots=True)
class NodeID:
    """The complete subtree at ``level`` over leaves ``[index << level, (index + 1) << level)``."""

    level: int
    index: int

    def __post_init__(self) -> None:
        if not 0 <= self.level <= MAX_LEVEL:
            raise ValueError(f"node level: got {self.level}, want 0 <= level <= {MAX_LEVEL}")
        if self.index < 0:
            raise ValueError(f"node index: got {self.index}, want >= 0")

    @property
    def begin(self) -> int:
        """The first leaf under this node."""
        return self.index << self.level

    @property
    def end(self) -> int:
        """One past the last leaf under this node."""
        return (self.index + 1) << self.level


def largest_power_of_two_below(n: int) -> int:
    """Return the ``k`` with ``k < n <= 2k`` (the size of the left subtree of RFC 6962 §2.1).

    ``n - 1`` has its highest set bit exactly at the position of ``k``: ``k <= n - 1 < 2k``.
    """
    if n < 2:
        raise ValueError(f"n: got {n}, want >= 2")
    return 1 << ((n - 1).bit_length() - 1)


def decompose(begin: int, end: int) -> tuple[NodeID, ...]:
    """Return the complete subtrees covering ``[begin, end)``, left to right, fewest possible.

    The list climbs in level and then descends again: the *left part* holds the nodes hanging
    off the path to leaf ``begin - 1`` on its right, the *right part* the nodes hanging off the
    path to leaf ``end`` on its left. Both paths run together down from the root until the
    highest bit where ``begin - 1`` and ``end`` differ, so only lower levels are in the range.
    """
    if not 0 <= begin <= end:
        raise ValueError(f"range: got [{begin}, {end}), want 0 <= begin <= end")
    if end > 1 << MAX_LEVEL:
        raise ValueError(f"range end: got {end}, want <= 2^{MAX_LEVEL}")
    if begin == end:
        return ()
    if begin == 0:
        # With nothing to the left, the range is exactly the left subtrees of the path to
        # ``end``: one node per set bit of ``end``, largest first.
        left_mask, right_mask = 0, end
    else:
        # Let d be the highest bit where begin - 1 and end differ. Bits below d describe the
        # paths inside the fork node at level d + 1. A zero bit of begin - 1 at level l means
        # that its path goes left there, so the right sibling at level l is in the range; a one
        # bit of end at level l means the path to end goes right, so the left sibling is in.
        last = begin - 1
        mask = (1 << ((last ^ end).bit_length() - 1)) - 1
        left_mask, right_mask = ~last & mask, end & mask
    nodes: list[NodeID] = []
    position = begin
    while left_mask:
        # ``mask & -mask`` isolates the lowest set bit: the smallest node of the left part.
        size = left_mask & -left_mask
        level = size.bit_length() - 1
        nodes.append(NodeID(level, position >> level))
        position += size
        left_mask ^= size
    while right_mask:
        # The right part goes from its largest node down, so take the highest set bit.
        level = right_mask.bit_length() - 1
        nodes.append(NodeID(level, position >> level))
        position += 1 << level
        right_mask ^= 1 << level
    return tuple(nodes)
