"""One log's entries, tree nodes and checkpoints in the server's RocksDB.

The write path is two steps so that the signer can look at a batch before it is stored:
:meth:`LogStore.prepare` hashes and deduplicates a batch and extends the tree in memory;
:meth:`LogStore.commit` writes entries, the leaf-hash index, the new tree nodes and the new state
in **one** WriteBatch with a synced WAL; :meth:`LogStore.commit_checkpoint` then stores the
checkpoint signed for that tree on its own. Only one thread may write
(the log's writer, ``server.writer.LogWriter``, in the sequencer's thread); any number may
read, and readers only ever see committed state.

Opening costs O(log n) reads whatever the size: the stored state carries the compact range, and
:meth:`LogStore.open` checks that it hashes to the stored root and that each of its nodes equals
the node stored in the strata, so a root that disagrees with the nodes is a ``CorruptionError``.

State value layout: ``u64 size || root(32) || u64 checkpoint size || compact range hashes(32 each)``.

Damage and write failures (see storage/db.py for what RocksDB reports):

* Damage found by any read of this log (a checksum mismatch, a missing node or entry) is a
  ``CorruptionError`` naming the log; from then on the log refuses to append (so it never signs
  again), while its reads still answer what can be read and the other logs go on.
* A failed write leaves ``size``, ``root`` and the compact range as they were. The tree nodes
  that ``prepare`` put in memory, and whether the failed batch reached the WAL, are unknown, so
  the next ``prepare`` reopens the database if needed and reloads this log's state from disk.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, starmap
from operator import itemgetter

from auditlog_tlog.storage import stored, strata
from auditlog_tlog.storage.addenda import AddendaReader, stage
from auditlog_tlog.storage.batch import PreparedBatch
from auditlog_tlog.storage.db import Database, prefix
from auditlog_tlog.storage.fold import fold
from auditlog_tlog.storage.layout import LogKeys, State
from auditlog_tlog.storage.migrate import move_strata
from auditlog_tlog.storage.proofs import ProofReader
from auditlog_tlog.tree.compact import CompactRange
from auditlog_tlog.tree.errors import CorruptionError, InvalidRangeError, PrunedError, StorageError
from auditlog_tlog.tree.hashing import Hasher
from auditlog_tlog.tree.nodes import NodeID


class LogStore:
    """The stored state of one log."""

    def __init__(self, db: Database, origin: str, hasher: Hasher) -> None:
        self.origin = origin
        self.hasher = hasher
        self._db = db
        self._keys = LogKeys(prefix(db.register_log(origin, hasher.name)))
        self.addenda = AddendaReader(db, self._keys)
        # Rows written in the same WriteBatch as a batch's entries (the search index,
        # storage/index.py), from the entries (index, entry, leaf hash) committed.
        self.extra_rows: Callable[[Sequence[tuple[int, bytes, bytes]]],
                                  Iterable[tuple[bytes, bytes]]] | None = None
        self._damage: CorruptionError | None = None  # set once: the log appends no more
        self._stale = False  # a write failed: reload the state from disk before the next one
        self.size = 0
        self.root = hasher.empty_root()
        self.checkpoint_size = 0
        self.pruned = 0  # entries below this index were deleted after publication
        self._compact: tuple[bytes, ...] = ()
        self._frontier: dict[int, strata.Stratum] = {}
        # (size, note) of the latest checkpoint, set by the writer only; one tuple, so that a
        # reader never pairs a size with another size's note.
        self._latest: tuple[int, bytes] | None = None
        self._proofs = ProofReader(origin, hasher, self._keys, db.read_stratum, self._damaged)
        move_strata(db, self._keys, origin)  # from a database of layout 1 (storage.migrate)
        self._open()

    # -- reads of the database, with this log's name on every failure ------------------------
    def _damaged(self, exc: CorruptionError) -> CorruptionError:
        """Record damage to this log (it appends no more) and return the error to raise."""
        if self._damage is None:
            self._damage = exc
        return exc

    def _named(self, exc: CorruptionError) -> CorruptionError:
        """A database failure as damage to this log, with the log's name."""
        return self._damaged(CorruptionError(f"log {self.origin!r}: {exc}"))

    def _get(self, key: bytes) -> bytes | None:
        try:
            return self._db.get(key)
        except CorruptionError as exc:
            raise self._named(exc) from exc

    def _get_stratum(self, key: bytes) -> bytes | None:
        try:
            return self._db.get_stratum(key)
        except CorruptionError as exc:
            raise self._named(exc) from exc

    def _get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        try:
            return self._db.get_many(keys)
        except CorruptionError as exc:
            raise self._named(exc) from exc

    def _scan(self, begin: bytes, end: bytes) -> Iterable[tuple[bytes, bytes]]:
        try:
            yield from self._db.scan(begin, end)
        except CorruptionError as exc:
            raise self._named(exc) from exc

    def _check_writable(self) -> None:
        """Raise if this log must not append; reload its state after a failed write."""
        if self._damage is not None:
            raise CorruptionError(f"log {self.origin!r} appends and signs no more: {self._damage}")
        if self._stale:
            self._db.recover()
            self._open()
            self._stale = False

    # -- open ----------------------------------------------------------------------------------
    def _open(self) -> None:
        """Read and check the stored state (storage/stored.py); damage is recorded."""
        self._latest = None
        self._proofs.clear()  # after a failed write, strata may have lost nodes read before
        try:
            raw = self._get(self._keys.state)
            if raw is not None:
                state = stored.checked_state(raw, self.hasher, self.origin)
                self.size, self.root = state.size, state.root
                self.checkpoint_size, self._compact = state.checkpoint_size, state.compact
            pruned = self._get(self._keys.pruned)
            self.pruned = 0 if pruned is None else int.from_bytes(pruned, "big")
            self._load_frontier()
            stored.check_compact(self.origin, self.size, self._compact, self._nodes)
        except CorruptionError as exc:
            raise self._damaged(exc) from None
        try:
            note = self._get(self._keys.checkpoint(self.checkpoint_size))
        except CorruptionError:  # recorded: the log appends no more, and reads of it say why
            note = None
        self._latest = None if note is None else (self.checkpoint_size, note)

    def _load_frontier(self) -> None:
        try:
            self._frontier = stored.frontier(self.origin, self.size, self._keys,
                                             self._get_stratum)
        except CorruptionError as exc:
            raise self._damaged(exc) from None

    # -- reads (any thread) --------------------------------------------------------------------
    def _nodes(self, ids: Sequence[NodeID]) -> list[bytes | None]:
        return self._proofs.nodes(ids)

    def _check_size(self, size: int, what: str) -> None:
        if not 0 <= size <= self.size:
            raise InvalidRangeError(f"{what} {size} is beyond the log's size, want <= {self.size}")

    def inclusion_proof(self, index: int, size: int) -> tuple[bytes, ...]:
        """PATH(index, D[size]) for any size up to the current one."""
        self._check_size(size, "tree size")
        return self._proofs.inclusion(index, size, False)[1]

    def inclusion(self, index: int, size: int) -> tuple[bytes, tuple[bytes, ...]]:
        """(leaf hash, PATH(index, D[size])) in one read: the leaf's stratum is the one that
        holds its sibling, so the leaf hash costs nothing more than the proof."""
        self._check_size(size, "tree size")
        return self._proofs.inclusion(index, size, True)

    def inclusion_proofs(self, indexes: Sequence[int], size: int) -> list[tuple[bytes, ...]]:
        """PATH(index, D[size]) for each of ``indexes`` (search pages): they share their tails
        and, when near each other, their strata."""
        self._check_size(size, "tree size")
        inclusion = self._proofs.inclusion
        return [inclusion(index, size, False)[1] for index in indexes]

    def consistency_proof(self, size1: int, size2: int) -> tuple[bytes, ...]:
        """PROOF(size1, D[size2]) for 0 <= size1 <= size2 <= size."""
        self._check_size(size2, "size2")
        return self._proofs.consistency(size1, size2)

    def leaf_hash(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise InvalidRangeError(f"index {index} is beyond the log's size {self.size}")
        (found,) = self._nodes([NodeID(0, index)])
        if found is None:
            raise self._damaged(CorruptionError(f"log {self.origin!r}: leaf hash {index} missing"))
        return found

    def index_of(self, leaf_hash: bytes) -> int | None:
        """The index of an entry with this leaf hash (the first one when dedup is on)."""
        raw = self._get(self._keys.leaf(leaf_hash))
        if raw is None:
            return None
        index = int.from_bytes(raw, "big")
        return index if index < self.size else None

    def entries(self, begin: int, end: int) -> list[bytes]:
        if not 0 <= begin <= end <= self.size:
            raise InvalidRangeError(
                f"range [{begin}, {end}) is not within the log's [0, {self.size})"
            )
        if begin < min(end, self.pruned):
            raise PrunedError(
                f"log {self.origin!r}: entries [{begin}, {min(end, self.pruned)}) were pruned from "
                f"this server after publication (it keeps [{self.pruned}, {self.size})); read them "
                "from the log's bucket", self.pruned)
        keys = [self._keys.entry(i) for i in range(begin, end)]
        values = self._get_many(keys)
        if any(v is None for v in values):
            raise self._damaged(
                CorruptionError(f"log {self.origin!r}: entries missing in [{begin}, {end})")
            )
        return [v for v in values if v is not None]

    @property
    def keys(self) -> LogKeys:
        """Where this log's records live in the database."""
        return self._keys

    def tile(self, level: int, index: int) -> bytes | None:
        """The C2SP tile bytes (row 0 of the stratum), or None if nothing is stored there."""
        value = self._get_stratum(self._keys.tile(level, index))
        return None if value is None else strata.bottom_row(value)

    def checkpoint(self, size: int | None = None) -> bytes | None:
        """The signed checkpoint stored for ``size`` (default: the latest)."""
        latest = self._latest
        size = self.checkpoint_size if size is None else size
        if latest is not None and latest[0] == size:
            return latest[1]
        return self._get(self._keys.checkpoint(size))

    def checkpoint_sizes(self, begin: int = 0, limit: int | None = None) -> list[int]:
        """Sizes with a stored checkpoint, ascending, from ``begin``, at most ``limit``."""
        sizes: list[int] = []
        start = self._keys.checkpoint(min(begin, 2**64 - 1))
        for key, _ in self._scan(start, self._keys.checkpoints_end()):
            if limit is not None and len(sizes) >= limit:
                break
            sizes.append(int.from_bytes(key[-8:], "big"))
        return sizes

    # -- the write path (the sequencer's thread only) -------------------------------------------
    def prepare(self, entries: Sequence[bytes], dedup: bool) -> PreparedBatch:
        """Hash, deduplicate and fold a batch into the tree in memory; nothing is written."""
        self._check_writable()
        leaves = self.hasher.hash_leaves(entries)
        size = self.size
        fresh = range(size, size + len(leaves))
        duplicates: frozenset[int] = frozenset()
        leaf_keys = None
        if dedup:
            leaf_keys = self._keys.leaf_keys(leaves)
            known = self._get_many(leaf_keys)
            if known.count(None) != len(known) or len(set(leaves)) != len(leaves):
                return self._prepare_duplicates(entries, leaves, known)
        batch = PreparedBatch(list(fresh), leaves, duplicates, size, self.root, self._compact,
                              list(zip(fresh, entries, leaves, strict=True)), leaf_keys)
        self._fold(batch, leaves)
        return batch

    def _prepare_duplicates(self, entries: Sequence[bytes], leaves: list[bytes],
                            known: list[bytes | None]) -> PreparedBatch:
        """``prepare`` of a batch that holds entries already stored or given twice."""
        indexes: list[int] = []
        duplicates: list[int] = []
        batch = PreparedBatch(indexes, leaves, frozenset(), self.size, self.root, self._compact)
        first: dict[bytes, int] = {}
        index = self.size
        for i, (entry, leaf, raw) in enumerate(zip(entries, leaves, known, strict=True)):
            seen = int.from_bytes(raw, "big") if raw is not None else first.get(leaf)
            if seen is not None:
                indexes.append(seen)
                duplicates.append(i)
                continue
            first[leaf] = index
            indexes.append(index)
            batch.entries.append((index, entry, leaf))
            index += 1
        batch.duplicates = frozenset(duplicates)
        self._fold(batch, [leaf for _, _, leaf in batch.entries])
        return batch

    def _fold(self, batch: PreparedBatch, leaves: list[bytes]) -> None:
        """Fold the new leaves into the tree: the batch's strata, size, compact range, root."""
        if not leaves:
            return
        runs, batch.compact = fold(self.hasher, self.size, self._compact, leaves)
        strata.add_runs(runs, self._frontier, batch.strata)
        batch.size = self.size + len(leaves)
        batch.root = CompactRange(self.hasher, 0, batch.size, batch.compact).root()

    def abandon(self) -> None:
        """Forget a prepared batch that will not be committed (its nodes are in memory only)."""
        self._load_frontier()

    def commit(self, batch: PreparedBatch) -> None:
        """Write the batch's entries, nodes and new state atomically and durably (no checkpoint:
        the log's writer signs the committed tree, then stores it with :meth:`commit_checkpoint`)."""
        if self._damage is not None or self._stale:
            raise StorageError(f"log {self.origin!r}: the batch was prepared before a failure")
        wb = self._db.batch()
        if batch.entries:  # indexes self.size up to batch.size, in order
            put = wb.put
            keys, u64s = self._keys.entry_keys(batch.entries[0][0], batch.entries[-1][0] + 1)
            leaf_keys = batch.leaf_keys or self._keys.leaf_keys(map(itemgetter(2), batch.entries))
            # Entries, then leaf hashes -> indexes: the puts in a loop in C.
            deque(starmap(put, chain(zip(keys, map(itemgetter(1), batch.entries), strict=True),
                                     zip(leaf_keys, u64s, strict=True))), maxlen=0)
        put_stratum = self._db.put_stratum
        for (level, index), stratum in batch.strata.items():
            put_stratum(wb, self._keys.tile(level, index), stratum.value())
        if batch.addenda is not None:
            stage(wb, self._keys, batch.addenda)
        if self.extra_rows is not None and batch.entries:
            deque(starmap(wb.put, self.extra_rows(batch.entries)), maxlen=0)  # a loop in C
        wb.put(self._keys.state,
               State(batch.size, batch.root, self.checkpoint_size, batch.compact).encode())
        self._write(wb, sync=True)
        self.size, self.root, self._compact = batch.size, batch.root, batch.compact

    def commit_checkpoint(self, size: int, checkpoint: bytes, sync: bool = True) -> None:
        """Store the checkpoint signed for the committed tree of ``size`` entries as the latest.

        ``sync=False`` leaves the WAL unsynced: for a checkpoint already durable elsewhere (the
        log's anchor file), which the log restores from there after a power loss.
        """
        self._check_writable()  # after a failed write: the stored state, not the one in memory
        if not self.checkpoint_size <= size <= self.size:
            raise InvalidRangeError(
                f"checkpoint for size {size}: want {self.checkpoint_size} to {self.size}"
            )
        wb = self._db.batch()
        wb.put(self._keys.checkpoint(size), checkpoint)
        wb.put(self._keys.state, State(self.size, self.root, size, self._compact).encode())
        self._write(wb, sync)
        self._latest = (size, checkpoint)
        self.checkpoint_size = size

    def _write(self, wb: object, sync: bool) -> None:
        try:
            self._db.write(wb, sync=sync)
        except CorruptionError as exc:
            raise self._named(exc) from exc
        except StorageError:
            # The in-memory strata may be ahead of the disk now, and the failed batch may or
            # may not be in the WAL: the next write reloads the state from disk first.
            self._stale = True
            raise

    def prune(self, end: int) -> None:
        """Delete the entries below ``end`` (a multiple of 256, whole bundles), durably, with the
        new pruned minimum in the same batch. The caller (server/pruning.py) has confirmed the
        bundles in the bucket. Leaf hashes, tree nodes and checkpoints stay, so every proof and
        dedup still work; only the entries' bytes go."""
        if end % 256 or not self.pruned < end <= self.size:
            raise InvalidRangeError(f"prune below {end}: want a multiple of 256 in "
                                    f"({self.pruned}, {self.size}]")
        wb = self._db.batch()
        wb.delete_range(self._keys.entry(self.pruned), self._keys.entry(end))
        wb.put(self._keys.pruned, end.to_bytes(8, "big"))
        self._write(wb, sync=True)
        self.pruned = end

    def store_checkpoint(self, size: int, checkpoint: bytes) -> None:
        """Replace the stored checkpoint at ``size`` (to attach cosignatures to it)."""
        if size > self.checkpoint_size or self.checkpoint(size) is None:
            raise InvalidRangeError(f"no checkpoint stored at size {size}")
        wb = self._db.batch()
        wb.put(self._keys.checkpoint(size), checkpoint)
        self._db.write(wb)
        if self._latest is not None and self._latest[0] == size:
            self._latest = (size, checkpoint)
