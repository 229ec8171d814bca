"""Inclusion and consistency proofs (RFC 6962 §2.1.1 and §2.1.2) read from one log's strata.

A proof splits in two at the level where the proven path meets the path to the last leaf
(``tree.proof.split_level``)::

    tail: the same for every leaf with this split,   ──┐   kept per (size, split)
          so it is read and folded once per tree size   │
    ─────────────────────────── split ──────────────────┘
    path: one sibling per level, (l, (anchor >> l) ^ 1);    one stratum per 8 levels,
          all of one tile level in one stratum               sliced by a cached itemgetter

Below the split, a proof reads at most one stratum per tile level, and :class:`StrataCache`
keeps every stratum above tile level 0 (1/256 of the nodes) and the most recently read ones of
level 0: a proof at 10^7 entries reads at most one value from RocksDB, and one at 10^4 none
once warm. That one read does not fill RocksDB's block cache (docs/proof-reads.md). Nothing
here changes how nodes are stored (storage.strata).

Memory: the strata cache is bounded by ``LEAF_STRATA_SLOTS * 16 KiB + UPPER_STRATA_BYTES``
(~1 + 2.5 MB at 10^7 entries, ~0.6 MB at 10^4), the tails
by ``TAILS_KEPT`` entries of at most 64 hashes, the slicers of storage.strata by their count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from auditlog_tlog.storage import strata
from auditlog_tlog.storage.layout import LogKeys
from auditlog_tlog.tree.errors import CorruptionError, InvalidRangeError
from auditlog_tlog.tree.hashing import Hasher
from auditlog_tlog.tree.nodes import NodeID
from auditlog_tlog.tree.proof import ProofPlan, tail_plan

# Tile level 0: 64 slots of one stratum (16 KiB when full). The levels above: all of them up
# to ~3 * 10^7 entries (~2.5 MB at 10^7), the oldest read dropped beyond.
LEAF_STRATA_SLOTS: Final = 64
UPPER_STRATA_BYTES: Final = 8 << 20
# Proof tails kept: (tree size, split level) -> hashes, a few hundred bytes each.
TAILS_KEPT: Final = 512


class ProofReader:
    """Tree nodes and proofs of one log from its stored strata (any thread; reads only).

    The caller checks sizes against what is committed: every node a proof at such a size
    needs is complete and stored, so a node missing from the database is damage.
    """

    def __init__(self, origin: str, hasher: Hasher, keys: LogKeys,
                 get: Callable[[bytes], bytes | None],
                 damaged: Callable[[CorruptionError], CorruptionError]) -> None:
        self._origin = origin
        self._hasher = hasher
        self._keys = keys
        # A read of the log's strata (Database.read_stratum: past the block cache, since this
        # reader keeps what it reads).
        self._get = get
        # LogKeys.tile(level, index) is this head, u8 level, u64 index: built inline on a read.
        self._tile_head = keys.tile(0, 0)[:-9]
        self._damaged = damaged  # records damage to the log, returns the error to raise
        self._cache = strata.StrataCache(LEAF_STRATA_SLOTS, UPPER_STRATA_BYTES)
        self._tails: dict[tuple[int, int, bool], tuple[bytes, ...]] = {}

    def clear(self) -> None:
        """Forget every stratum and tail read so far (the database was reopened)."""
        self._cache.clear()
        self._tails.clear()

    @property
    def cached_bytes(self) -> int:
        return self._cache.held

    def _stratum(self, level: int, index: int, fresh: bool = False) -> bytes:
        """The stored stratum (level, index), from the cache unless ``fresh``; b"" if none."""
        cache = self._cache
        if not fresh:
            value = cache.get(level, index)
            if value is not None:
                return value
        generation = cache.generation
        value = self._read(level, index)
        if value:
            cache.put(level, index, value, generation)
        return value

    def _read(self, level: int, index: int) -> bytes:
        """The stored stratum (level, index) read from the database (not cached); b"" if none."""
        try:
            value = self._get(self._tile_head + level.to_bytes(1, "big") + index.to_bytes(8, "big"))
        except CorruptionError as exc:
            raise self._damaged(CorruptionError(f"log {self._origin!r}: {exc}")) from exc
        if not value:
            return b""
        if len(value) not in strata.VALUE_LENGTHS:
            raise self._damaged(CorruptionError(
                f"log {self._origin!r}: tile {level}/{index} holds {len(value)} bytes, no "
                "valid stratum size"))
        return value

    def nodes(self, ids: Sequence[NodeID]) -> list[bytes | None]:
        """The hashes of ``ids``, None for a node not stored."""
        values: dict[tuple[int, int], bytes] = {}
        result: list[bytes | None] = []
        for node in ids:
            tile, index, row, position = strata.locate(node)
            value = values.get((tile, index))
            if value is None:
                value = values[(tile, index)] = self._stratum(tile, index)
            found = strata.node_hash(value, row, position)
            if found is None:  # a stratum read before that node was added: read it again
                value = values[(tile, index)] = self._stratum(tile, index, fresh=True)
                found = strata.node_hash(value, row, position)
            result.append(found)
        return result

    def fetch(self, plan: ProofPlan) -> tuple[bytes, ...]:
        """The proof ``plan`` names, folded."""
        hashes = self.nodes(plan.ids)
        if any(h is None for h in hashes):
            missing = [f"{n.level}/{n.index}" for n, h in zip(plan.ids, hashes, strict=True)
                       if h is None]
            raise self._damaged(CorruptionError(
                f"log {self._origin!r}: tree nodes missing: {', '.join(missing)}"))
        return plan.fold(self._hasher, [h for h in hashes if h is not None])

    def _path(self, anchor: int, level: int, split: int, node: bool) -> list[bytes]:
        """The hashes of a proof below its split: with ``node``, first the path's own node at
        ``level`` (the leaf, or a consistency proof's seed); then the siblings
        ``(l, (anchor >> l) ^ 1)`` for ``level <= l < split - 1``. Those of one tile level
        all lie in its stratum over ``anchor``, so each tile level costs one read (none when
        cached). Written for speed: this is most of a proof's time."""
        out: list[bytes] = []
        end = split - 1
        own = level & 7 if node else -1
        tile = level >> 3
        cache = self._cache
        slots, mask, upper = cache.slots, cache.mask, cache.upper
        getters = strata.GETTERS
        while level < end or own >= 0:
            base = tile << 3
            first = level - base
            stop = end - base
            stop = 8 if stop > 8 else first if stop < first else stop
            index = anchor >> (base + 8)
            byte = (anchor >> base) & 0xFF
            # From the cache, else read (``fresh``: the cache was just looked at).
            if tile:
                value = upper.get((tile, index)) or self._stratum(tile, index, True)
            else:
                slot = slots[index & mask]
                if slot is not None and slot[0] == index:
                    value = slot[1]
                else:  # the one read of most proofs: kept in the list taken above, which
                    # StrataCache.clear replaces, so a read from before a clear is dropped
                    value = self._read(0, index)
                    if value:
                        slots[index & mask] = (index, value)
            key = (len(value), byte, first, stop, own)
            getter = getters.get(key) or strata.path_getter(*key)
            if getter is None:  # read before those nodes were added, or damage
                value = self._stratum(tile, index, fresh=True)
                getter = strata.path_getter(len(value), byte, first, stop, own)
                if getter is None:
                    raise self._damaged(CorruptionError(
                        f"log {self._origin!r}: tree nodes missing in tile {tile}/{index} for "
                        f"the path over leaf {anchor}"))
            out += getter(value)
            own = -1
            tile += 1
            level = base + 8
        return out

    def _tail(self, size: int, split: int, sibling: bool) -> tuple[bytes, ...]:
        """The proof hashes from the split up (tree.proof.tail_plan)."""
        key = (size, split, sibling)
        found = self._tails.get(key)
        if found is None:
            found = self.fetch(tail_plan(size, split, sibling))
            if len(self._tails) >= TAILS_KEPT:
                self._tails.clear()
            self._tails[key] = found
        return found

    def inclusion(self, index: int, size: int, leaf: bool) -> tuple[bytes, tuple[bytes, ...]]:
        """(leaf hash or b"", PATH(index, D[size])): the leaf lies in the stratum of its
        sibling, so with ``leaf`` it costs no read more."""
        if not 0 <= index < size:
            raise InvalidRangeError(f"index {index} is not in a tree of size {size}, want < {size}")
        split = (index ^ (size - 1)).bit_length()
        path = self._path(index, 0, split, leaf)
        tail = self._tail(size, split, split > 0)
        if leaf:
            return path[0], (*path[1:], *tail)
        return b"", (*path, *tail)

    def consistency(self, size1: int, size2: int) -> tuple[bytes, ...]:
        """PROOF(size1, D[size2]): the path from the last complete node of the old tree, with
        that node first unless it is the whole old tree (tree.proof.consistency_plan)."""
        if not 0 <= size1 <= size2:
            raise InvalidRangeError(f"size1 {size1} is larger than size2 {size2}")
        if size1 == 0 or size1 == size2:
            return ()
        anchor = size1 - 1
        level = (size1 ^ anchor).bit_length() - 1  # the lowest set bit: the last node's width
        # The split is above that level: ``anchor`` ends in ``level`` one bits, so were the
        # highest bit where it differs from ``size2 - 1`` below ``level``, ``size2 - 1`` would
        # not exceed ``anchor``. So no max(level, split), and the tail has its sibling. (Each
        # int operation on these sizes allocates; this is ~0.6 us of a ~12 us proof's Python.)
        split = (anchor ^ (size2 - 1)).bit_length()
        return (*self._path(anchor, level, split, anchor >> level != 0),
                *self._tail(size2, split, True))
