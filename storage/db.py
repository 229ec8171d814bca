"""The one RocksDB of a server, holding several logs under short key prefixes.

Key space (all keys and values are raw bytes; integers are big-endian so keys sort by number)::

    R <origin>                    -> u32 log id                registry of logs
    L <u32 id> I                  -> JSON {origin, hash}       immutable facts of a log
    L <u32 id> S                  -> state (see logstore.py)   size, root, compact range, checkpoint size
    L <u32 id> E <u64 index>      -> entry bytes
    L <u32 id> H <32 leaf hash>   -> u64 index                 leaf hash -> index (dedup, proof by hash)
    L <u32 id> C <u64 size>       -> signed checkpoint note

    column family "strata":
    L <u32 id> T <u8 lvl><u64 n>  -> stratum (see strata.py)   complete tree nodes, tile by tile

The strata have a column family of their own (layout 2; storage.migrate moves those of a log
of layout 1 there when it opens): their keys only ever grow, so its SST files hold disjoint key
ranges and a proof's read of a random stratum probes one file, not one per file of level 0 and
per level as among the entries and the (random) leaf hashes (docs/proof-reads.md).

Every write goes through :meth:`Database.write`, one WriteBatch with a synced WAL: written by
RocksDB without sync, then synced by :class:`~auditlog_tlog.storage.walsync.WalSync`, which lets
the event loop run while the disk works (rocksdict holds the GIL through a synced write).

The database refuses to guess (docs/integrity.md; the log does not trust its own disk):

* RocksDB opens with paranoid checks and the WAL recovery mode "absolute consistency", so a
  damaged WAL, MANIFEST or SST file stops the open instead of being cut off. One exception:
  the torn tail record a crash leaves behind (its write never finished, so it was never
  acknowledged) opens with "tolerate corrupted tail records", which still fails on any checksum
  mismatch. A WAL cut at a record boundary looks like an older database; the log's anchors
  catch that.
* A directory with files but no ``CURRENT`` is never taken for a new database.
* ``AUDITLOG-WAL`` remembers, at every open and close, the newest WAL and RocksDB's sequence
  number. The newest WAL must still be there (RocksDB only ever deletes a WAL older than the one
  it writes), and the sequence number must not go back (RocksDB never reuses one): a MANIFEST
  cut short forgets the SST files it listed, and RocksDB would delete them as obsolete. So the
  database is first opened read-only, checked (storage/walmark.py), and only then opened for
  writing.
* Every read verifies block checksums and every scan checks the iterator's status.

Backend failures are translated here, once, from RocksDB's messages (rocksdict raises plain
``Exception``): damage is :class:`CorruptionError`, a full file system :class:`DiskFullError`,
anything else :class:`StorageError`. After a failed write RocksDB refuses every later write
(its background error), so the next write first reopens the database (:meth:`Database.recover`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from rocksdict import (
    BottommostLevelCompaction,
    Cache,
    ColumnFamily,
    CompactOptions,
    IngestExternalFileOptions,
    Rdict,
    ReadOptions,
    WriteBatch,
    WriteOptions,
)

from auditlog_tlog.storage.dbopen import STRATA, open_rdict
from auditlog_tlog.storage.rocks import (
    BLOCK_CACHE_BYTES,
    column_family,
    translate,
)
from auditlog_tlog.storage.walmark import (
    check_files,
    write_mark,
)
from auditlog_tlog.storage.walsync import WalSync
from auditlog_tlog.tree.errors import CorruptionError, DiskFullError, StorageError

log = logging.getLogger("auditlog.storage")

_REGISTRY = b"R"
# A full file system is only worth reopening the database for once this much is free again.
RECOVER_FREE_BYTES: Final = 4 * 1024 * 1024


class Database:
    """A RocksDB opened in raw (bytes) mode; the only object in the project that touches it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        new = not self.path.exists() or not any(self.path.iterdir())
        if not new:
            check_files(self.path)
        os.makedirs(self.path, exist_ok=True)
        self._cache = Cache(BLOCK_CACHE_BYTES)  # must outlive every Rdict opened with it
        self._db = open_rdict(self.path, self._cache, create=new)
        self._strata, self._strata_cf, self._strata_passing = self._strata_families()
        self._unsynced = WriteOptions()
        self._wal = WalSync(self.path)
        self._lock = threading.RLock()  # write() may recover() inside register_log()
        self._closed = False
        self._broken: StorageError | None = None  # the failed write RocksDB still holds against us

    # -- reads ---------------------------------------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        try:
            value: bytes | None = self._db.get(key)
        except Exception as exc:
            raise translate(exc, f"reading key {key[:6].hex()}…") from exc
        return value

    def get_stratum(self, key: bytes) -> bytes | None:
        """A read of the strata's column family (storage.layout: ``LogKeys.tile``)."""
        try:
            value: bytes | None = self._strata.get(key)
        except Exception as exc:
            raise translate(exc, f"reading stratum {key[:6].hex()}…") from exc
        return value

    def read_stratum(self, key: bytes) -> bytes | None:
        """``get_stratum`` without adding the block read to the block cache: for a reader that
        keeps what it reads itself (storage.proofs). A random stratum of a large log is read
        once in a long while, so caching its 16 KiB block would only push out blocks that are
        read again (the leaf-hash index's, the recent strata's) (docs/proof-reads.md). Read
        through a handle of its own whose options say so, rather than options given with each
        read, which rocksdict converts on every call (~0.4 µs of a ~10 µs read)."""
        try:
            value: bytes | None = self._strata_passing.get(key)
        except Exception as exc:
            raise translate(exc, f"reading stratum {key[:6].hex()}…") from exc
        return value

    def _strata_families(self) -> tuple[Rdict, ColumnFamily, Rdict]:
        """The strata's column family to read (``get_stratum``) and write, and a second handle
        of it for ``read_stratum``."""
        family, handle = column_family(self._db, STRATA)
        return family, handle, column_family(self._db, STRATA, fill_cache=False)[0]

    def put_stratum(self, batch: Any, key: bytes, value: bytes) -> None:
        batch.put(key, value, self._strata_cf)

    def delete_strata(self, batch: Any, begin: bytes, end: bytes) -> None:
        """Delete the strata with keys in [begin, end) in ``batch``."""
        batch.delete_range(begin, end, self._strata_cf)

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        if not keys:
            return []
        try:
            values: Any = self._db[list(keys)]
        except Exception as exc:
            raise translate(exc, f"reading {len(keys)} keys from {keys[0][:6].hex()}…") from exc
        return list(values)

    def scan(self, begin: bytes, end: bytes) -> Iterable[tuple[bytes, bytes]]:
        """Key-value pairs with begin <= key < end, in key order.

        An iterator stops (``valid()`` turns false) on an error as it does at the end of the
        data; only its status tells the two apart, so it is checked whenever the scan ends.
        """
        where = f"scanning keys from {begin[:6].hex()}"
        try:
            it = self._db.iter(ReadOptions())
            it.seek(begin)
            while it.valid():
                key = it.key()
                if key >= end:
                    break
                yield key, it.value()
                it.next()
            it.status()
        except Exception as exc:
            raise translate(exc, where) from exc

    def scan_back(self, begin: bytes, end: bytes) -> Iterable[tuple[bytes, bytes]]:
        """Key-value pairs with begin <= key < end, in descending key order (see :meth:`scan`)."""
        where = f"scanning keys back from {end[:6].hex()}"
        try:
            it = self._db.iter(ReadOptions())
            it.seek_for_prev(end)
            if it.valid() and it.key() >= end:
                it.prev()
            while it.valid():
                key = it.key()
                if key < begin:
                    break
                yield key, it.value()
                it.prev()
            it.status()
        except Exception as exc:
            raise translate(exc, where) from exc

    def floors(self, keys: Sequence[bytes], begin: bytes) -> list[tuple[bytes, bytes] | None]:
        """For each key, the last key-value pair at or before it and at or after ``begin``
        (one iterator for all: a search page's times).

        A key between the last floor found and the key after it has that floor too, so keys
        that fall between the same two stored keys (a page's results in one batch) cost one
        seek together, in whichever order they come.
        """
        found: list[tuple[bytes, bytes] | None] = []
        floor: tuple[bytes, bytes] | None = None
        low = high = b""  # ``floor`` answers every key in [low, high); high b"" = no bound
        try:
            it = self._db.iter(ReadOptions())
            for key in keys:
                if low and low <= key and (not high or key < high):
                    found.append(floor)
                    continue
                it.seek_for_prev(key)
                if it.valid() and it.key() >= begin:
                    floor = (it.key(), it.value())
                    low = floor[0]
                    it.next()
                    high = it.key() if it.valid() else b""
                else:
                    floor, low = None, b""
                found.append(floor)
            it.status()
        except Exception as exc:
            raise translate(exc, f"seeking {len(keys)} keys back") from exc
        return found

    # -- writes --------------------------------------------------------------------------------
    def batch(self) -> Any:
        return WriteBatch(raw_mode=True)

    def write(self, batch: Any, sync: bool = True) -> None:
        """Apply a WriteBatch atomically and durably (synced WAL; unsynced with ``sync=False``).

        On failure nothing of the batch is visible to reads, but its WAL record may or may not
        be on disk; a writer that keeps state in memory reloads it after :meth:`recover`.
        """
        self.recover()
        try:
            floor = self._wal.floor()
            self._db.write(batch, self._unsynced)
            if sync:
                self._wal.sync(floor)
        except Exception as exc:
            error = translate(exc, "write failed")
            self._broken = error
            raise error from exc

    def ingest(self, paths: Sequence[str]) -> None:
        """Add SST files written by ``storage.restore.write_sst`` (all at once or none), moving them into
        the database: RocksDB syncs them and records them in its MANIFEST before it returns, and
        gives them sequence numbers after every write before, so their rows replace older ones."""
        options = IngestExternalFileOptions()
        options.set_move_files(True)
        self.recover()
        try:
            self._db.ingest_external_file(list(paths), options)
        except Exception as exc:
            raise translate(exc, f"ingesting {len(paths)} SST files") from exc

    def recover(self) -> None:
        """After a failed write, reopen the database so that writes can succeed again.

        A full file system is left alone until :data:`RECOVER_FREE_BYTES` are free again, so
        that reads go on meanwhile; the failure is raised again until then.
        """
        with self._lock:
            broken = self._broken
            if broken is None:
                return
            if isinstance(broken, DiskFullError):
                free = shutil.disk_usage(self.path).free
                if free < RECOVER_FREE_BYTES:
                    raise DiskFullError(f"the file system of {self.path} is still full: {free} "
                                        f"bytes free, want {RECOVER_FREE_BYTES} to resume") from None
            self._close_quietly()
            self._db = open_rdict(self.path, self._cache, create=False)
            self._strata, self._strata_cf, self._strata_passing = self._strata_families()
            self._broken = None
            log.warning("database at %s reopened after a failed write (%s)", self.path, broken)

    def _close_quietly(self) -> None:
        """Close RocksDB; after a failed write it reports that failure again, which we know."""
        try:
            self._db.close()
        except Exception as exc:
            log.warning("closing the database at %s: %s", self.path, exc)
        # The strata's column family handles keep RocksDB open (and its lock held) while they
        # live: drop them (recover() makes new ones).
        self.__dict__.pop("_strata", None)
        self.__dict__.pop("_strata_cf", None)
        self.__dict__.pop("_strata_passing", None)

    # -- registry of logs ----------------------------------------------------------------------
    def log_ids(self) -> dict[str, int]:
        """Every registered log: origin -> id."""
        return {
            key[1:].decode(): int.from_bytes(value, "big")
            for key, value in self.scan(_REGISTRY, _REGISTRY + b"\xff")
        }

    def register_log(self, origin: str, hash_name: str) -> int:
        """Return the id of the log called ``origin``, creating it if it is new.

        A log's hash function is fixed when it is created; asking for another is an error.
        """
        with self._lock:
            ids = self.log_ids()
            if origin in ids:
                log_id = ids[origin]
                info = self.get(prefix(log_id) + b"I")
                if info is None:
                    raise CorruptionError(f"log {origin!r} is registered but has no info record")
                stored = json.loads(info)["hash"]
                if stored != hash_name:
                    raise ValueError(
                        f"log {origin!r} was created with hash {stored}, config says {hash_name}"
                    )
                return log_id
            log_id = max(ids.values(), default=0) + 1
            batch = self.batch()
            batch.put(_REGISTRY + origin.encode(), log_id.to_bytes(4, "big"))
            batch.put(
                prefix(log_id) + b"I", json.dumps({"origin": origin, "hash": hash_name}).encode()
            )
            self.write(batch)
            return log_id

    def purge(self, begin: bytes, end: bytes) -> None:
        """Make keys deleted in [begin, end) unrecoverable from the database's files
        (docs/erasure.md): flush the memtable (the WAL files that held the deleted values become
        obsolete and RocksDB deletes them once every column family has flushed past them: the
        strata's too), then compact the range down to the bottom level, which
        rewrites every SST file holding an old value of those keys without it and deletes the old
        files. Call it after the deleting write, from the log's writer thread."""
        where = f"purging keys from {begin[:6].hex()}"
        options = CompactOptions()
        options.set_exclusive_manual_compaction(True)
        options.set_bottommost_level_compaction(BottommostLevelCompaction.force())
        with self._lock:
            self.recover()
            try:
                self._db.flush(True)
                self._strata.flush(True)
                self._db.compact_range(begin, end, options)
                self._db.flush_wal(True)
            except Exception as exc:
                raise translate(exc, where) from exc

    def close(self) -> None:
        """Close the database; never raises (a failed write was reported when it happened)."""
        if not self._closed:
            self._closed = True
            if self._broken is None:
                write_mark(self.path, self._db)
            self._close_quietly()
            self._wal.close()


def prefix(log_id: int) -> bytes:
    return b"L" + log_id.to_bytes(4, "big")
