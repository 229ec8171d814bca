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
        have = len(self.rows[row]) // HASH_SIZE
        if position != have:
            raise ValueError(
                f"node at row {row} position {position} of tile {self.level}/{self.index} "
                f"out of order, want position {have}"
            )
        self.rows[row] += hash_

    def extend(self, row: int, position: int, hashes: bytes) -> None:
        """Append consecutive nodes (their hashes joined) starting at ``position``."""
        have = len(self.rows[row]) // HASH_SIZE
        if position != have:
            raise ValueError(
                f"nodes from row {row} position {position} of tile {self.level}/{self.index} "
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
