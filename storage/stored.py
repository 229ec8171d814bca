"""A log's stored state, read and checked when ``storage.logstore.LogStore`` opens it.

The state record (storage/layout.py) carries the tree's size, root and compact range
(RFC 6962 §2.1: the roots of the complete subtrees of ``[0, size)``); each check here turns a
disagreement into a ``CorruptionError`` naming the log, so that a damaged database is never
taken for a shorter or another tree:

* the compact range hashes to the stored root;
* each of its nodes equals the node stored in the strata;
* the rightmost tile of every level holds exactly the hashes the size says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from auditlog_tlog.storage import strata
from auditlog_tlog.storage.layout import LogKeys, State
from auditlog_tlog.tree.compact import CompactRange
from auditlog_tlog.tree.errors import CorruptionError
from auditlog_tlog.tree.hashing import HASH_SIZE, Hasher
from auditlog_tlog.tree.nodes import NodeID, decompose


def checked_state(raw: bytes, hasher: Hasher, origin: str) -> State:
    """The state record ``raw``, its compact range checked against its root."""
    try:
        state = State.decode(raw, HASH_SIZE)
    except ValueError as exc:
        raise CorruptionError(f"log {origin!r}: {exc}") from exc
    try:
        computed = CompactRange(hasher, 0, state.size, state.compact).root()
    except ValueError as exc:
        raise CorruptionError(f"log {origin!r}: stored compact range: {exc}") from exc
    if computed != state.root:
        raise CorruptionError(
            f"log {origin!r}: stored root {state.root.hex()} disagrees with the compact range "
            f"(which hashes to {computed.hex()}) at size {state.size}")
    return state


def check_compact(origin: str, size: int, compact: Sequence[bytes],
                  nodes: Callable[[Sequence[NodeID]], list[bytes | None]]) -> None:
    """Each node of the compact range of ``[0, size)`` equals the one ``nodes`` reads."""
    ids = decompose(0, size)
    for node, want, got in zip(ids, compact, nodes(ids), strict=True):
        if got != want:
            raise CorruptionError(
                f"log {origin!r}: node {node.level}/{node.index} in storage is "
                f"{got.hex() if got else 'missing'}, the stored state says {want.hex()}")


def frontier(origin: str, size: int, keys: LogKeys,
             get_stratum: Callable[[bytes], bytes | None]) -> dict[int, strata.Stratum]:
    """The rightmost stratum of every level, by level, each checked to hold the hashes the
    size says (the strata a batch appends to)."""
    found: dict[int, strata.Stratum] = {}
    for level, index in frontier_tiles(size):
        stratum = strata.Stratum(level, index, get_stratum(keys.tile(level, index)) or b"")
        want = (size >> (8 * level)) & 0xFF
        if stratum.width != want:
            raise CorruptionError(f"log {origin!r}: tile {level}/{index} holds {stratum.width} "
                                  f"hashes, want {want} for size {size}")
        found[level] = stratum
    return found


def frontier_tiles(size: int) -> list[tuple[int, int]]:
    """(tile level, tile index) of the rightmost tile of every level that exists or comes next."""
    tiles = []
    level = 0
    while True:
        count = size >> (8 * level)
        tiles.append((level, count >> 8))
        if count < 0x100:
            return tiles
        level += 1
