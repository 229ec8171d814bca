"""A log's addenda, stored apart from its entries, and their erasure (c2sp.org/tlog-addenda;
docs/erasure.md).

An addendum is kept under its digest (``storage.layout``: ``A`` keys, the entry's index before
the bytes); erasing it deletes that key and leaves a tombstone (``X`` keys) that names the entry
and the entry of the log that records the erasure, so that a read can say "erased by entry N"
and an erased addendum is never stored again. Both are written in the WriteBatch of the entries
they go with (:class:`AddendaChange`, staged by ``LogStore.commit``); after an erasure the
log's writer calls :meth:`AddendaReader.purge`, which makes the deleted bytes unrecoverable
from the database's files (``Database.purge``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.layout import LogKeys


@dataclass(frozen=True, slots=True)
class Stored:
    """An addendum as stored: the index of the entry that commits it, and its bytes."""

    index: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Erased:
    """An erased addendum: the entry that committed it and the entry recording its erasure."""

    index: int
    erasure_index: int


@dataclass(frozen=True, slots=True)
class AddendaChange:
    """What a batch does to the addenda: ``puts`` (entry index, digest, bytes) and ``erasures``
    (digest, entry index, erasure index)."""

    puts: tuple[tuple[int, bytes, bytes], ...] = ()
    erasures: tuple[tuple[bytes, int, int], ...] = ()


def stage(wb: Any, keys: LogKeys, change: AddendaChange) -> None:
    """Add ``change`` to a WriteBatch of the log with these keys."""
    for index, digest, data in change.puts:
        wb.put(keys.addendum(digest), index.to_bytes(8, "big") + data)
    for digest, index, erasure_index in change.erasures:
        wb.delete(keys.addendum(digest))
        wb.put(keys.erased(digest), index.to_bytes(8, "big") + erasure_index.to_bytes(8, "big"))


class AddendaReader:
    """Reads of one log's addenda (any thread) and the purge after an erasure (writer only)."""

    def __init__(self, db: Database, keys: LogKeys) -> None:
        self._db = db
        self._keys = keys

    def get(self, digest: bytes) -> Stored | None:
        raw = self._db.get(self._keys.addendum(digest))
        return None if raw is None else Stored(int.from_bytes(raw[:8], "big"), raw[8:])

    def erased(self, digest: bytes) -> Erased | None:
        raw = self._db.get(self._keys.erased(digest))
        if raw is None:
            return None
        return Erased(int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:16], "big"))

    def erased_many(self, digests: Sequence[bytes]) -> list[Erased | None]:
        raws = self._db.get_many([self._keys.erased(d) for d in digests])
        return [None if raw is None else
                Erased(int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:16], "big"))
                for raw in raws]

    def purge(self) -> None:
        """Make the erased addenda unrecoverable from the database's files."""
        self._db.purge(*self._keys.addenda_range())
