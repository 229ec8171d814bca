"""Durable RocksDB writes that let other Python threads run while the disk syncs.

rocksdict keeps the GIL for the whole of ``write`` with ``sync = true``, fsync included, so
while one log's batch is synced the server's event loop cannot take the next requests and group
commit never fills (docs/speed.md). A durable write is therefore made of two steps:

1. RocksDB writes the batch with ``sync = false``: the WAL record goes to the operating system
   (RocksDB's ``manual_wal_flush`` is off, so every write ends in a ``write(2)`` of its record),
   the memtable is updated, and the GIL is held only for that.
2. :meth:`WalSync.sync` calls ``fdatasync`` on every WAL file that may hold the record, and
   ``fsync`` on the directory when a WAL file is new, releasing the GIL while the disk works.

Which files "may hold the record": RocksDB appends to its newest WAL file and only ever
switches to a newer one, whose file number is larger. Before the write we know a WAL number
``w`` that is not newer than the live one; after the write, every ``*.log`` numbered ``>= w``
is synced. A WAL that RocksDB deleted in between had been flushed into a synced SST file and
MANIFEST first (that is the only reason RocksDB deletes a WAL), so its records are durable.
Syncing a file also makes every earlier unsynced write in it durable, which is what a synced
RocksDB write does too.

The caller is answered only after :meth:`WalSync.sync` returns; so, as with RocksDB's own
synced write, an acknowledged batch survives a power loss, and a batch whose sync failed is
reported as a failed write (RocksDB may still show it to readers: the next write recovers).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def wal_numbers(path: Path) -> list[int]:
    """The numbers of the WAL files (``NNNNNN.log``) in a RocksDB directory, ascending."""
    return sorted(int(name[:-4]) for name in os.listdir(path)
                  if name.endswith(".log") and name[:-4].isdigit())


class WalSync:
    """fdatasync the WAL files of one RocksDB directory (any thread; one sync at a time)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._fds: dict[int, int] = {}  # WAL number -> an open descriptor
        self._floor = 0  # no WAL older than this can hold a write not yet synced

    def floor(self) -> int:
        """A WAL number not newer than the live one: read it before the write."""
        return self._floor

    def sync(self, floor: int) -> None:
        """Make every write made since :meth:`floor` returned ``floor`` durable.

        Raises ``OSError`` when the disk refuses (the write is then not durable).
        """
        with self._lock:
            numbers = [n for n in wal_numbers(self._path) if n >= floor]
            new = [n for n in numbers if n not in self._fds]
            for number in new:
                try:
                    self._fds[number] = os.open(self._path / f"{number:06d}.log", os.O_RDONLY)
                except FileNotFoundError:  # flushed into a synced SST and deleted meanwhile
                    continue
            for number in numbers:
                fd = self._fds.get(number)
                if fd is not None:
                    os.fdatasync(fd)
            if new:  # the directory entry of a new WAL file must be durable too
                directory = os.open(self._path, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
            if numbers:
                self._floor = max(self._floor, numbers[-1])
            self._close_older_than(self._floor)

    def _close_older_than(self, number: int) -> None:
        for old in [n for n in self._fds if n < number]:
            os.close(self._fds.pop(old))

    def close(self) -> None:
        with self._lock:
            self._close_older_than(2**63)
