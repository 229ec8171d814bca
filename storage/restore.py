"""Bulk import of a whole tree into an empty log: the writer of ``auditlog restore``.

The records written are exactly those of the append path (key space in ``storage/db.py``, state
layout in ``storage/logstore.py``, strata in ``storage/strata.py``): entries, the leaf-hash
index, the strata, the signed checkpoints, and last the state, so that a log opened afterwards
is indistinguishable from one that was appended to. Entries arrive in order, in chunks; they are
folded into a compact range (RFC 6962 §2.1) whose visitor fills the strata, and each chunk is
one synced WriteBatch. A stratum is written once when it fills up (every node in it is complete
then) and the unfinished ones at :meth:`LogImporter.finish`.

Until ``finish`` writes the state record, the log holds entries and strata without a state: a
``LogStore`` refuses to open it (its frontier check sees a tile wider than size 0 allows), so an
interrupted import can never be served and signed over; :meth:`LogImporter.abort` deletes what
was written, and a later import may start over on such a log. A log that has a state with
entries is never touched: that is a ``ConflictError``.

``on_tile(level, index, row0)`` is called for every tile as it is written (full ones as they
fill, the partial ones at ``finish``), with the c2sp.org/tlog-tiles bytes it serves, so that
the caller can compare each with the published tile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from auditlog_tlog.storage import strata
from auditlog_tlog.storage.db import Database, prefix
from auditlog_tlog.storage.layout import LogKeys, State
from auditlog_tlog.tree.compact import CompactRange
from auditlog_tlog.tree.errors import ConflictError, InvalidRangeError, MalformedError
from auditlog_tlog.tree.hashing import HASH_SIZE, Hasher, get_hasher
from auditlog_tlog.tree.tiles import decode_entry_bundle

TileCallback = Callable[[int, int, bytes], None]
Tile = tuple[bytes, bytes]
"""A level-0 stratum value and the root of its tile."""
MAX_BATCH_ENTRIES: Final = 1 << 16


def tile_stratum(hasher: Hasher, leaf_hashes: Sequence[bytes]) -> Tile:
    """The stratum of a whole level-0 tile (256 leaf hashes), row by row, and the tile's root.

    This is what the compact range's visitor would fill node by node, a row per call.
    """
    if len(leaf_hashes) != strata.WIDTH:
        raise ValueError(f"got {len(leaf_hashes)} leaf hashes, want a whole tile of {strata.WIDTH}")
    row = b"".join(leaf_hashes)
    rows = [row]
    for _ in range(strata.ROWS - 1):
        row = hasher.hash_row(row)
        rows.append(row)
    return b"".join(rows), hasher.hash_children(row[:HASH_SIZE], row[HASH_SIZE:])


def digest_bundle(hash_name: str, data: bytes, width: int, where: str
                  ) -> tuple[list[bytes], list[bytes], Tile | None]:
    """Decode a c2sp.org/tlog-tiles entry bundle of ``width`` entries, hash its leaves, and for a
    whole one build its stratum: the CPU work of a restore, which may run in another process.
    A malformed bundle is a ``MalformedError`` naming ``where``."""
    hasher = get_hasher(hash_name)
    try:
        entries = decode_entry_bundle(data, None)[:width]
    except MalformedError as exc:
        raise MalformedError(f"{where}: {exc}") from None
    if len(entries) != width:
        raise MalformedError(f"{where}: got {len(entries)} entries, want {width}")
    leaves = hasher.hash_leaves(entries)
    return entries, leaves, tile_stratum(hasher, leaves) if width == strata.WIDTH else None


class LogImporter:
    """Writes one log, leaf by leaf from index 0, into a database where it is empty."""

    def __init__(self, db: Database, origin: str, hasher: Hasher,
                 on_tile: TileCallback | None = None) -> None:
        self.origin, self.hasher = origin, hasher
        self._db = db
        self._on_tile = on_tile
        existing = db.log_ids().get(origin)
        if existing is not None:
            raw = db.get(LogKeys(prefix(existing)).state)
            held = 0 if raw is None else State.decode(raw, HASH_SIZE).size
            if held > 0:
                raise ConflictError(
                    f"log {origin!r} already holds {held} entries in this database: restore "
                    "only into an empty log (or a fresh data_dir)")
        self._keys = LogKeys(prefix(db.register_log(origin, hasher.name)))
        self._compact = CompactRange(hasher)
        self._open: dict[int, strata.Stratum] = {}  # the stratum being filled, by tile level
        self._full: list[strata.Stratum] = []
        self._batch: Any = db.batch()
        self._leaf_keys: list[bytes] = []  # the leaf-hash index, put sorted at each write
        self._leaf_values: list[bytes] = []
        self._pending = 0

    @property
    def size(self) -> int:
        return self._compact.end

    def root(self) -> bytes:
        return self._compact.root()

    def _visit(self, level: int, index: int, hash_: bytes) -> None:
        row = level & 7
        shift = 8 - row
        tile_level, tile_index = level >> 3, index >> shift
        stratum = self._open.get(tile_level)
        if stratum is None or stratum.index != tile_index:
            stratum = self._open[tile_level] = strata.Stratum(tile_level, tile_index)
        stratum.add(row, index - (tile_index << shift), hash_)
        if row == 7 and index & 1:  # the top node of the stratum: all of it is complete now
            self._full.append(stratum)

    def add(self, entries: Sequence[bytes], leaf_hashes: Sequence[bytes],
            tile: Tile | None = None) -> None:
        """Append entries (with their leaf hashes, computed by the caller) at the end.

        ``tile`` may carry ``tile_stratum(hasher, leaf_hashes)`` when the entries are a whole
        level-0 tile, computed elsewhere (another process).
        """
        if len(entries) != len(leaf_hashes):
            raise ValueError(f"got {len(entries)} entries and {len(leaf_hashes)} leaf hashes")
        keys, indexes = self._keys.entry_keys(self.size, self.size + len(entries))
        put = self._batch.put
        for key, entry in zip(keys, entries, strict=True):
            put(key, entry)
        self._leaf_keys += self._keys.leaf_keys(leaf_hashes)
        self._leaf_values += indexes
        if len(leaf_hashes) == strata.WIDTH and not self._compact.end & 0xFF:  # a whole tile
            self._add_tile(leaf_hashes, tile)
        else:
            self._compact.extend_levels(leaf_hashes, self._visit)
        for stratum in self._full:
            self._put_stratum(stratum)
        self._full.clear()
        self._pending += len(entries)
        if self._pending >= MAX_BATCH_ENTRIES:
            self._flush()

    def _add_tile(self, leaf_hashes: Sequence[bytes], tile: Tile | None) -> None:
        """A whole level-0 tile at once, its stratum built by :func:`tile_stratum`."""
        index = self._compact.end >> 8
        value, tile_root = tile or tile_stratum(self.hasher, leaf_hashes)
        self._batch.put(self._keys.tile(0, index), value)
        if self._on_tile is not None:
            self._on_tile(0, index, value[: strata.WIDTH * len(tile_root)])
        self._visit(8, index, tile_root)
        one = CompactRange(self.hasher, index << 8, (index + 1) << 8, [tile_root])
        self._compact.merge(one, lambda node, hash_: self._visit(node.level, node.index, hash_))

    def _put_stratum(self, stratum: strata.Stratum) -> None:
        value = stratum.value()
        self._batch.put(self._keys.tile(stratum.level, stratum.index), value)
        if self._on_tile is not None:
            self._on_tile(stratum.level, stratum.index, strata.bottom_row(value))

    def _flush(self) -> None:
        # Leaf hashes are random: put in key order, RocksDB's memtable inserts them about
        # twice as fast, and they are the larger part of the cost of a write. The sort is
        # stable: of equal leaf hashes (dedup off) the last index is put last and wins, as on
        # the append path.
        keys, values = self._leaf_keys, self._leaf_values
        put = self._batch.put
        for i in sorted(range(len(keys)), key=keys.__getitem__):
            put(keys[i], values[i])
        keys.clear()
        values.clear()
        self._db.write(self._batch)
        self._batch = self._db.batch()
        self._pending = 0

    def finish(self, checkpoints: Mapping[int, bytes], checkpoint_size: int) -> None:
        """Write the unfinished strata, the checkpoints and, last, the state of the log."""
        if checkpoint_size != self.size or checkpoint_size not in checkpoints:
            raise InvalidRangeError(f"latest checkpoint at size {checkpoint_size}, want one at "
                                    f"the imported size {self.size}")
        for level in sorted(self._open):
            stratum = self._open[level]
            if stratum.width < strata.WIDTH and stratum.width:
                self._put_stratum(stratum)
        for size, note in sorted(checkpoints.items()):
            if size > self.size:
                raise InvalidRangeError(f"checkpoint of size {size} beyond the import ({self.size})")
            self._batch.put(self._keys.checkpoint(size), note)
        state = State(self.size, self.root(), checkpoint_size, tuple(self._compact.hashes))
        self._batch.put(self._keys.state, state.encode())
        self._flush()

    def abort(self) -> None:
        """Delete everything written for the log but its registration (it stays empty)."""
        self._batch = self._db.batch()
        self._leaf_keys.clear()
        self._leaf_values.clear()
        for begin, end in self._keys.ranges():
            self._batch.delete_range(begin, end)
        self._flush()
