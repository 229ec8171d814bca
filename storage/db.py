"""The one RocksDB of a server, holding several logs under short key prefixes.

Key space (all keys and values are raw bytes; integers are big-endian so keys sort by number)::

    R <origin>                    -> u32 log id                registry of logs
    L <u32 id> I                  -> JSON {origin, hash}       immutable facts of a log
    L <u32 id> S                  -> state (see logstore.py)   size, root, compact range, checkpoint size
    L <u32 id> E <u64 index>      -> entry bytes
    L <u32 id> H <32 leaf hash>   -> u64 index                 leaf hash -> index (dedup, proof by hash)
    L <u32 id> T <u8 lvl><u64 n>  -> stratum (see strata.py)   complete tree nodes, tile by tile
    L <u32 id> C <u64 size>       -> signed checkpoint note

Every write goes through :meth:`Database.write`, one WriteBatch with a synced WAL.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from rocksdict import Options, Rdict, ReadOptions, WriteBatch, WriteOptions

from auditlog_tlog.tree.errors import CorruptionError, StorageError

_REGISTRY = b"R"


class Database:
    """A RocksDB opened in raw (bytes) mode; the only object in the project that touches it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        os.makedirs(path, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        try:
            self._db = Rdict(os.fspath(path), options)
        except Exception as exc:  # rocksdict raises plain Exception for lock and I/O errors
            raise StorageError(f"cannot open database at {path}: {exc}") from exc
        self._sync = WriteOptions()
        self._sync.sync = True
        self._unsynced = WriteOptions()
        self._lock = threading.Lock()
        self._closed = False

    # -- reads ---------------------------------------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        if not keys:
            return []
        values: Any = self._db[list(keys)]
        return list(values)

    def scan(self, begin: bytes, end: bytes) -> Iterable[tuple[bytes, bytes]]:
        """Key-value pairs with begin <= key < end, in key order."""
        it = self._db.iter(ReadOptions())
        it.seek(begin)
        while it.valid():
            key = it.key()
            if key >= end:
                break
            yield key, it.value()
            it.next()

    # -- writes --------------------------------------------------------------------------------
    def batch(self) -> Any:
        return WriteBatch(raw_mode=True)

    def write(self, batch: Any, sync: bool = True) -> None:
        """Apply a WriteBatch atomically and durably (synced WAL; unsynced with ``sync=False``)."""
        try:
            self._db.write(batch, self._sync if sync else self._unsynced)
        except Exception as exc:
            raise StorageError(f"write failed: {exc}") from exc

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

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.close()


def prefix(log_id: int) -> bytes:
    return b"L" + log_id.to_bytes(4, "big")
