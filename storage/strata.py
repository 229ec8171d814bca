"""Tree nodes stored as 8-level strata: one RocksDB value holds every complete node of a tile.

A c2sp.org/tlog-tiles tile at tile level ``T`` and index ``N`` is the row of (up to) 256 hashes
at tree level ``8T`` that lie under it. We store the seven rows above it as well, so that one
read gives every sibling a proof needs within those eight tree levels::

    row 7   [.. 2 ..]                      tree level 8T+7
    ...
    row 1   [........ 128 ........]        tree level 8T+1
    row 0   [............ 256 ............] tree level 8T   (the C2SP tile, served as is)

With ``w`` hashes in row 0, row ``r`` holds exactly ``w >> r`` hashes: a node is stored once it is
complete and never changes after. The value is the rows concatenated, row 0 first; its length
alone gives ``w`` because ``sum(w >> r for r in range(8))`` grows strictly with ``w``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from operator import itemgetter
from typing import Final

from auditlog_tlog.storage.fold import Run
from auditlog_tlog.tree.hashing import HASH_SIZE
from auditlog_tlog.tree.nodes import NodeID

ROWS: Final = 8
WIDTH: Final = 1 << ROWS


def _row_counts(width: int) -> tuple[int, ...]:
    return tuple(width >> r for r in range(ROWS))


# Byte offset of each row for every possible row-0 width, and the width for every value length.
_OFFSETS: Final[tuple[tuple[int, ...], ...]] = tuple(
    tuple(sum(_row_counts(w)[:r]) * HASH_SIZE for r in range(ROWS)) for w in range(WIDTH + 1)
)
_WIDTH_BY_LENGTH: Final[dict[int, int]] = {
    sum(_row_counts(w)) * HASH_SIZE: w for w in range(WIDTH + 1)
}
VALUE_LENGTHS: Final = frozenset(_WIDTH_BY_LENGTH)  # every valid length of a stratum value


def locate(node: NodeID) -> tuple[int, int, int, int]:
    """Return (tile level, tile index, row, position in row) of a node."""
    row = node.level & 7
    shift = ROWS - row
    tile_index = node.index >> shift
    return node.level >> 3, tile_index, row, node.index - (tile_index << shift)


def width_of(value: bytes) -> int:
    """The row-0 width of a stored stratum value."""
    try:
        return _WIDTH_BY_LENGTH[len(value)]
    except KeyError:
        raise ValueError(f"stratum of {len(value)} bytes is no valid size") from None


def node_hash(value: bytes, row: int, position: int) -> bytes | None:
    """The hash at ``position`` in ``row`` of a stored stratum, or None if it is not there."""
    width = width_of(value)
    if position >= width >> row:
        return None
    start = _OFFSETS[width][row] + position * HASH_SIZE
    return value[start : start + HASH_SIZE]


# How to slice a stratum for one proof, by (value length, byte, first row, end row, node row):
# see path_getter. At most this many are kept, ~200 bytes each (they share their slices, one
# per hash position); inclusion proofs through full strata use 2 * 256 of them, 16 * 256 at most.
_GETTERS_KEPT: Final = 4096
_SLICES: Final = tuple(slice(start, start + HASH_SIZE)
                       for start in range(0, (2 * WIDTH - 1) * HASH_SIZE, HASH_SIZE))
GETTERS: Final[dict[tuple[int, int, int, int, int], Callable[[bytes], tuple[bytes, ...]]]] = {}


def path_getter(
    length: int, byte: int, first: int, end: int, node: int
) -> Callable[[bytes], tuple[bytes, ...]] | None:
    """A function that cuts, from a stratum value of ``length`` bytes, the hashes a proof
    needs; None if such a stratum does not hold them all (yet).

    The path goes through position ``byte`` of row 0 (the byte of the proven leaf's index at
    this tile level). Its sibling at row ``r`` is at position ``(byte >> r) ^ 1``; the function
    returns every sibling of rows ``[first, end)``, bottom up, preceded by the path's own node
    at row ``node`` (position ``byte >> node``) unless ``node`` is negative. Where to cut
    depends only on these numbers, so the cuts are worked out once, kept in ``GETTERS``, and
    made by an ``operator.itemgetter`` of slices, all in one call. ``length`` must be valid
    (:func:`width_of`).
    """
    key = (length, byte, first, end, node)
    found = GETTERS.get(key)
    if found is not None:
        return found
    width = _WIDTH_BY_LENGTH[length]
    offsets = _OFFSETS[width]
    positions = [] if node < 0 else [(node, byte >> node)]
    positions += [(row, (byte >> row) ^ 1) for row in range(first, end)]
    if not all(position < width >> row for row, position in positions):
        return None  # a node the stratum does not hold (yet)
    slices = [_SLICES[offsets[row] // HASH_SIZE + position] for row, position in positions]
    if len(slices) == 1:
        (one,) = slices
        found = lambda value: (value[one],)  # noqa: E731 (itemgetter of one item: no tuple)
    else:
        found = itemgetter(*slices)
    if len(GETTERS) >= _GETTERS_KEPT:
        GETTERS.clear()
    GETTERS[key] = found
    return found


class StrataCache:
    """Stored strata kept in memory: tile level 0 in ``slots``, the levels above in ``upper``.

    A node never changes once stored, so a stratum read from the database stays right for
    every node it holds; one read before more nodes were added to it just lacks those (the
    reader then reads it again: :func:`path_getter` says None). The levels above 0 are few
    (1/256 of the nodes: ~2.5 MB for 10^7 entries): ``upper`` keeps them up to ``upper_bytes``,
    dropping the oldest read beyond, so a proof reads at most its tile-level-0 stratum. Tile
    level 0 has ``leaf_slots`` slots (a power of two), stratum ``i`` in slot ``i % leaf_slots``:
    neighbours (search pages, recent entries) never push each other out, and keeping one is a
    list store, no bookkeeping.

    One exception to "never changes": a write that failed may have put nodes in the database
    that the log then drops (storage.logstore reopens it). :meth:`clear` empties the cache and
    bumps the generation; a value read before that is not added after it. It replaces
    ``slots`` with a new list, never empties it in place: so a reader may also store a value it
    read into the ``slots`` list it took before that read, without the lock (storage.proofs
    does, for the one read of most proofs): one read before a clear lands in the list dropped.
    """

    def __init__(self, leaf_slots: int, upper_bytes: int) -> None:
        if leaf_slots < 1 or leaf_slots & (leaf_slots - 1):
            raise ValueError(f"leaf slots: got {leaf_slots}, want a power of two")
        self.mask = leaf_slots - 1
        # Read them directly (proofs do): slots[i & mask] is (i, value) or None; upper maps
        # (level, index) to value.
        self.slots: list[tuple[int, bytes] | None] = [None] * leaf_slots
        self.upper: dict[tuple[int, int], bytes] = {}
        self._bound = upper_bytes
        self._held = 0
        self._lock = threading.Lock()
        self.generation = 0

    def get(self, level: int, index: int) -> bytes | None:
        if level:
            return self.upper.get((level, index))
        slot = self.slots[index & self.mask]
        return slot[1] if slot is not None and slot[0] == index else None

    def put(self, level: int, index: int, value: bytes, generation: int) -> None:
        """Keep ``value`` for tile (level, index) if it was read in ``generation``."""
        if generation != self.generation:
            return
        if not level:
            with self._lock:  # so that no value read before a clear lands after it
                if generation == self.generation:
                    self.slots[index & self.mask] = (index, value)
            return
        if len(value) > self._bound:
            return
        with self._lock:
            if generation != self.generation:
                return
            old = self.upper.pop((level, index), None)
            self._held += len(value) - (0 if old is None else len(old))
            self.upper[(level, index)] = value
            while self._held > self._bound:
                self._held -= len(self.upper.pop(next(iter(self.upper))))

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self.slots = [None] * len(self.slots)
            self.upper = {}
            self._held = 0

    @property
    def held(self) -> int:
        """Bytes of strata held now."""
        return self._held + sum(len(slot[1]) for slot in self.slots if slot is not None)


def bottom_row(value: bytes) -> bytes:
    """Row 0: the C2SP tile bytes."""
    return value[: width_of(value) * HASH_SIZE]


class Stratum:
    """A stratum being filled: the rightmost tile of a tile level, to which nodes are appended."""

    __slots__ = ("index", "level", "rows")

    def __init__(self, level: int, index: int, value: bytes = b"") -> None:
        self.level = level
        self.index = index
        width = width_of(value)
        offsets = _OFFSETS[width]
        ends = (*offsets[1:], len(value))
        self.rows = [bytearray(value[offsets[r] : ends[r]]) for r in range(ROWS)]

    @property
    def width(self) -> int:
        return len(self.rows[0]) // HASH_SIZE

    def add(self, row: int, position: int, hash_: bytes) -> None:
        """Append a newly completed node; nodes of a row arrive strictly in order."""
        self.extend(row, position, hash_)

    def extend(self, row: int, position: int, hashes: bytes) -> None:
        """Append consecutive nodes (their hashes joined) starting at ``position``."""
        have = len(self.rows[row]) // HASH_SIZE
        if position != have:
            raise ValueError(
                f"node(s) from row {row} position {position} of tile {self.level}/{self.index} "
                f"out of order, want position {have}"
            )
        self.rows[row] += hashes

    def node(self, row: int, position: int) -> bytes | None:
        """The hash at ``position`` in ``row``, or None if that node is not complete yet."""
        start = position * HASH_SIZE
        found = bytes(self.rows[row][start : start + HASH_SIZE])
        return found if len(found) == HASH_SIZE else None

    def value(self) -> bytes:
        return b"".join(self.rows)


def add_runs(runs: list[Run], frontier: dict[int, Stratum],
             touched: dict[tuple[int, int], Stratum]) -> None:
    """Put a batch's new nodes (storage.fold) into their strata, one slice of a row per tile
    (``locate``, for runs). ``touched`` collects the strata the batch changed; the rightmost
    stratum of each tile level becomes that level's ``frontier``."""
    for run in runs:
        tile_level, row = run.level >> 3, run.level & 7
        shift = ROWS - row
        index, hashes, done = run.begin, run.hashes, 0
        while done < len(hashes):
            tile_index = index >> shift
            position = index - (tile_index << shift)
            take = min(len(hashes) - done, (1 << shift) - position)
            stratum = touched.get((tile_level, tile_index))
            if stratum is None:
                stratum = frontier.get(tile_level)
                if stratum is None or stratum.index != tile_index:
                    stratum = Stratum(tile_level, tile_index)
                touched[(tile_level, tile_index)] = stratum
            stratum.extend(row, position, b"".join(hashes[done : done + take]))
            done += take
            index += take
    for (tile_level, tile_index), stratum in touched.items():
        current = frontier.get(tile_level)
        if current is None or current.index <= tile_index:
            frontier[tile_level] = stratum
