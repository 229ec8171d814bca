"""Bulk import of a whole tree into an empty log: the writer of ``auditlog restore``.

The records written are exactly those of the append path (key space in ``storage/db.py``, state
layout in ``storage/layout.py``, strata in ``storage/strata.py``): entries, the leaf-hash
index, the strata, the signed checkpoints, and last the state, so that a log opened afterwards
is indistinguishable from one that was appended to.

The rows of the entries (``E``, by index) and of the leaf-hash index (``H``, by leaf hash) do not
go through RocksDB's memtable and WAL: :func:`write_rows`, which may run in another process,
writes the rows of a run of consecutive entries into two sorted SST files (RocksDB's
``SstFileWriter``; the leaf hashes sorted, of equal ones the last index), and
:meth:`LogImporter.ingest` moves them into the database. Runs are ingested in index order: the
files of a later run get later sequence numbers, so of equal leaf hashes across runs the later
index wins too, as on the append path. The tree is folded by :meth:`LogImporter.extend` into a
compact range (RFC 6962 §2.1) whose visitor fills the strata; those, the checkpoints and the state
are ordinary synced WriteBatches. A stratum is written once when it fills up (every node in it is
complete then) and the unfinished ones at :meth:`LogImporter.finish`.

Crash safety. The importer first clears whatever an interrupted import left of the log and
writes a **guard**, one zero hash as tile 0/0, in one synced batch, before any file is ingested.
Until ``finish`` writes the state record, the log holds rows and strata without a state: a
``LogStore`` refuses to open it (its frontier check sees a tile 0/0 wider than size 0 allows), so
an interrupted import can never be served and signed over, and a later import starts over;
:meth:`LogImporter.abort` deletes what was written. A log that has a state with entries is
never touched: that is a ``ConflictError``.

``on_tile(level, index, row0)`` is called for every tile as it is written (full ones as they
fill, the partial ones at ``finish``), with the c2sp.org/tlog-tiles bytes it serves, so that
the caller can compare each with the published tile.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy
from rocksdict import DBCompressionType, Options, SstFileWriter

from auditlog_tlog.storage import strata
from auditlog_tlog.storage.db import Database, prefix
from auditlog_tlog.storage.layout import LogKeys, State
from auditlog_tlog.storage.rocks import table_options, translate
from auditlog_tlog.tree.compact import CompactRange
from auditlog_tlog.tree.errors import ConflictError, InvalidRangeError, MalformedError
from auditlog_tlog.tree.hashing import HASH_SIZE, Hasher, get_hasher
from auditlog_tlog.tree.tiles import decode_entry_bundle

TileCallback = Callable[[int, int, bytes], None]
Tile = tuple[bytes, bytes]
"""A level-0 stratum value and the root of its tile."""
MAX_BATCH_ENTRIES: Final = 1 << 16
GUARD: Final = bytes(HASH_SIZE)
"""Tile 0/0 while an import runs: one hash, which no log of size 0 can have (see above)."""


@dataclass(frozen=True, slots=True)
class RowFiles:
    """Where the rows of a run of entries are written (:func:`write_rows`), in any process:
    the importer's staging directory and the log's key prefix."""

    directory: str
    prefix: bytes


def write_sst(path: str, keys: Iterable[bytes], values: Iterable[bytes], *,
              compress: bool = True) -> None:
    """Write rows, keys strictly ascending, into a new SST file for ``Database.ingest``, with
    the database's table options (bloom filters, partitioned index). RocksDB syncs the file.
    ``compress=False`` for rows that do not compress (hashes): RocksDB's compactions, which
    merge such a file with others, compress what they write."""
    options = Options(raw_mode=True)
    options.set_block_based_table_factory(table_options(None))
    if not compress:
        options.set_compression_type(DBCompressionType.none())
    writer = SstFileWriter(options)
    try:
        writer.open(path)
        for key, value in zip(keys, values, strict=True):
            writer[key] = value
        writer.finish()
    except Exception as exc:  # rocksdict raises plain Exception
        raise translate(exc, f"writing SST file {path}") from exc


def write_rows(files: RowFiles, first: int, entries: Sequence[bytes],
               leaf_hashes: Sequence[bytes]) -> list[str]:
    """Write the rows of entries ``first, first + 1, ...`` (their entry rows and leaf-hash index
    rows) into two new SST files under ``files.directory``; return their paths."""
    if len(entries) != len(leaf_hashes) or not entries:
        raise ValueError(f"got {len(entries)} entries and {len(leaf_hashes)} leaf hashes, want "
                         "as many of each, at least one")
    keys = LogKeys(files.prefix)
    entry_keys, indexes = keys.entry_keys(first, first + len(entries))
    base = os.path.join(files.directory, f"{first:020d}")
    write_sst(base + ".entries.sst", entry_keys, entries)
    leaf_keys, leaf_values = leaf_rows(keys, leaf_hashes, indexes)
    write_sst(base + ".leaves.sst", leaf_keys, leaf_values, compress=False)
    return [base + ".entries.sst", base + ".leaves.sst"]


def leaf_rows(keys: LogKeys, leaf_hashes: Sequence[bytes], indexes: Sequence[bytes]
              ) -> tuple[list[bytes], list[bytes]]:
    """The leaf-hash index rows of ``leaf_hashes`` (their ``indexes`` as values), sorted by
    key; of equal leaf hashes (dedup off) only the last index, as on the append path.

    The rows are ordered by the first 8 bytes of each hash read as an integer (NumPy's
    argsort: ~0.1 us a row, where sorting the bytes keys costs ~0.6 us); when two hashes
    share those 8 bytes (equal entries, or by chance once in ~2^33 tasks of 2^16 entries) the
    whole task takes the general path: a dict, so that the last index wins, and a sort of
    the hashes.
    """
    first = numpy.frombuffer(b"".join(leaf_hashes), dtype=">u8")[::HASH_SIZE // 8]
    order = numpy.argsort(first)
    ranked = first[order]
    if len(ranked) > 1 and bool((ranked[1:] == ranked[:-1]).any()):
        index_of = dict(zip(leaf_hashes, indexes, strict=True))
        hashes = sorted(index_of)
        return keys.leaf_keys(hashes), [index_of[h] for h in hashes]
    positions: list[int] = order.tolist()
    return (keys.leaf_keys(map(leaf_hashes.__getitem__, positions)),
            list(map(indexes.__getitem__, positions)))


def tile_stratum(hasher: Hasher, leaf_hashes: Sequence[bytes]) -> Tile:
    """The stratum of a whole level-0 tile (256 leaf hashes), row by row, and the tile's root.

    This is what the compact range's visitor would fill node by node, a row per call.
    """
    if len(leaf_hashes) != strata.WIDTH:
        raise ValueError(f"got {len(leaf_hashes)} leaf hashes, want a whole tile of {strata.WIDTH}")
    rows = [b"".join(leaf_hashes)]
    hashes = leaf_hashes
    for _ in range(strata.ROWS - 1):
        hashes = hasher.hash_parents(hashes)
        rows.append(b"".join(hashes))
    return b"".join(rows), hasher.hash_children(hashes[0], hashes[1])


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
        # The database holds RocksDB's lock: no other import writes beside this one.
        self.staging = db.path.with_name(db.path.name + ".restore")
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir()
        self.files = RowFiles(os.fspath(self.staging), self._keys.prefix)
        self._compact = CompactRange(hasher)
        self._open: dict[int, strata.Stratum] = {}  # the stratum being filled, by tile level
        self._full: list[strata.Stratum] = []
        self._pending = 0
        self._batch: Any = self._cleared()  # what an interrupted import left
        db.put_stratum(self._batch, self._keys.tile(0, 0), GUARD)
        self._flush()

    @property
    def size(self) -> int:
        return self._compact.end

    def root(self) -> bytes:
        return self._compact.root()

    def _cleared(self) -> Any:
        """A batch that deletes every record of the log but its addenda (A, X). Each deletion
        spans only the keys there are: a file ingested over a deleted range overlaps it and is
        compacted again, so the rows of a fresh log (which has at most a checkpoint of size 0,
        or the markers of its search index) must not fall under one."""
        batch = self._db.batch()
        # With the range of the strata: an import interrupted before layout 2 left them here.
        for begin, end in (*self._keys.ranges(), self._keys.tiles_range()):
            first = next(iter(self._db.scan(begin, end)), None)
            last = next(iter(self._db.scan_back(begin, end)), None)
            if first is not None and last is not None:
                batch.delete_range(first[0], last[0] + b"\x00")
        self._db.delete_strata(batch, *self._keys.tiles_range())
        return batch

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

    def ingest(self, paths: Sequence[str]) -> None:
        """Move SST files written by :func:`write_rows` into the database (in index order)."""
        self._db.ingest(paths)

    def add(self, entries: Sequence[bytes], leaf_hashes: Sequence[bytes],
            tile: Tile | None = None) -> None:
        """Append entries (with their leaf hashes, computed by the caller) at the end: their
        rows written and ingested here, then :meth:`extend`."""
        if entries or leaf_hashes:
            self.ingest(write_rows(self.files, self.size, entries, leaf_hashes))
        self.extend(leaf_hashes, tile)

    def extend(self, leaf_hashes: Sequence[bytes], tile: Tile | None = None) -> None:
        """Fold the next leaves into the tree, writing the strata that fill up; their rows are
        in the database already (:func:`write_rows`, :meth:`ingest`).

        ``tile`` may carry ``tile_stratum(hasher, leaf_hashes)`` when the leaves are a whole
        level-0 tile, computed elsewhere (another process).
        """
        if len(leaf_hashes) == strata.WIDTH and not self._compact.end & 0xFF:  # a whole tile
            self.extend_tile(tile or tile_stratum(self.hasher, leaf_hashes))
            return
        self._compact.extend_levels(leaf_hashes, self._visit)
        self._written(len(leaf_hashes))

    def extend_tile(self, tile: Tile) -> None:
        """:meth:`extend` by a whole level-0 tile, given by its stratum and root
        (:func:`tile_stratum`), at a size that is a multiple of 256."""
        if self._compact.end & 0xFF:
            raise ValueError(f"a whole tile at size {self._compact.end}, want a multiple of 256")
        index = self._compact.end >> 8
        value, tile_root = tile
        self._db.put_stratum(self._batch, self._keys.tile(0, index), value)
        if self._on_tile is not None:
            self._on_tile(0, index, value[: strata.WIDTH * len(tile_root)])
        self._visit(8, index, tile_root)
        one = CompactRange(self.hasher, index << 8, (index + 1) << 8, [tile_root])
        self._compact.merge(one, lambda node, hash_: self._visit(node.level, node.index, hash_))
        self._written(strata.WIDTH)

    def _written(self, count: int) -> None:
        """Put the strata that filled up; write them every ``MAX_BATCH_ENTRIES`` entries."""
        for stratum in self._full:
            self._put_stratum(stratum)
        self._full.clear()
        self._pending += count
        if self._pending >= MAX_BATCH_ENTRIES:
            self._flush()

    def _put_stratum(self, stratum: strata.Stratum) -> None:
        value = stratum.value()
        self._db.put_stratum(self._batch, self._keys.tile(stratum.level, stratum.index), value)
        if self._on_tile is not None:
            self._on_tile(stratum.level, stratum.index, strata.bottom_row(value))

    def _flush(self) -> None:
        self._db.write(self._batch)
        self._batch = self._db.batch()
        self._pending = 0

    def finish(self, checkpoints: Mapping[int, bytes], checkpoint_size: int) -> None:
        """Write the unfinished strata, the checkpoints and, last, the state of the log."""
        if checkpoint_size != self.size or checkpoint_size not in checkpoints:
            raise InvalidRangeError(f"latest checkpoint at size {checkpoint_size}, want one at "
                                    f"the imported size {self.size}")
        if self.size == 0:
            self._db.delete_strata(self._batch, self._keys.tile(0, 0), self._keys.tile(0, 1))  # the guard
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
        shutil.rmtree(self.staging, ignore_errors=True)

    def abort(self) -> None:
        """Delete everything written for the log but its registration (it stays empty)."""
        self._batch = self._cleared()
        self._flush()
        shutil.rmtree(self.staging, ignore_errors=True)
