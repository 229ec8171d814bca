"""Fold a batch of leaves into the tree level by level (RFC 6962 §2.1, the MTH of complete
subtrees), for the write path of ``storage.logstore``.

``tree.compact.CompactRange.extend_levels`` completes nodes one leaf at a time and calls a
visitor for each of them; for a batch of a thousand leaves that is two thousand Python calls.
Here a batch is folded one level at a time instead: the new nodes of a level form one run of
consecutive indexes, and the next level's run is the pairwise hashes of this one (with the
compact range's node of this level in front when the run starts on a right child)::

    size 5, four new leaves 5..8; the compact range holds (2,0) and (0,4)

    level 0   run [5, 9):  h5 h6 h7 h8       5 is a right child: pair (0,4) h5, h6 h7; h8 waits
    level 1   run [2, 4):  (1,2) (1,3)       pair them
    level 2   run [1, 2):  (2,1)             a right child: pair with (2,0)
    level 3   run [0, 1):  (3,0)             nothing to pair: done

The runs are what storage writes (one slice of a stratum row per tile), and the compact range
of the new size is read off the runs and the old range: the node of every set bit of the size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from auditlog_tlog.tree.hashing import Hasher


@dataclass(frozen=True, slots=True)
class Run:
    """The nodes ``[begin, begin + len(hashes))`` of ``level`` that a batch completed."""

    level: int
    begin: int
    hashes: list[bytes]


def compact_levels(size: int) -> list[int]:
    """The levels of the compact range of ``[0, size)``: its set bits, highest first."""
    return [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]


def fold(
    hasher: Hasher, size: int, compact: Sequence[bytes], leaves: list[bytes]
) -> tuple[list[Run], tuple[bytes, ...]]:
    """The runs of new complete nodes, level 0 up, and the compact range of the new size.

    ``compact`` is the compact range of ``[0, size)`` (one hash per set bit of ``size``,
    highest level first, as ``CompactRange.hashes``).
    """
    held = dict(zip(compact_levels(size), compact, strict=True))
    hash_parents = hasher.hash_parents
    runs: list[Run] = []
    level, begin, run = 0, size, leaves
    while run:
        runs.append(Run(level, begin, run))
        if begin & 1:  # the run starts on a right child: its left sibling is held
            run = [held[level], *run]
            begin -= 1
        run = hash_parents(run if len(run) % 2 == 0 else run[:-1])  # the last one odd waits
        level, begin = level + 1, begin >> 1
    end = size + len(leaves)
    hashes = []
    for lvl in compact_levels(end):
        index = (end >> lvl) - 1
        if lvl < len(runs) and index >= runs[lvl].begin:
            hashes.append(runs[lvl].hashes[index - runs[lvl].begin])
        else:
            hashes.append(held[lvl])
    return runs, tuple(hashes)
