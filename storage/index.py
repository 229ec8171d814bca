"""The search index of one log, in the log's own key space (docs/search.md).

It is written in the same WriteBatch as the entries it indexes (``LogStore.extra_rows``), so
it never lags the tree and an acknowledged entry is never missing from it after a crash. Keys,
after the log's prefix and ``X`` (``LogKeys.search``)::

    <field> <value> 00 00 <index u64>    -> ''          a posting: the entry at index has value
    T <logged_at u64 ns> <first u64>     -> ''          time -> index: a batch sequenced then
    B <first u64>                        -> <ns u64>    index -> time: the same batch
    F                                    -> <index u64> the first index the index covers

``F`` is set when a log first opens with its index on: a log that existed before (or was
restored from its bucket) has no postings for the entries below it, and the audit checks the
index from there on.

``<field>`` is one byte for the fixed fields (``a`` actor, ``c`` action, ``r`` resource,
``o`` outcome, ``s`` source, ``p`` principal, ``q`` request id) or ``@ <key> 00 00`` for a
configured attribute. A value is its UTF-8, cut to ``MAX_VALUE_BYTES``, with every 00 byte
written 00 ff, so ``00 00`` ends it and the postings of one value sort by index: a page of the
newest results for one actor is one reverse scan. Values sharing a prefix sort together, so a
trailing-``*`` pattern is a scan of the values under the prefix. The index only proposes
candidates: search reads each candidate's entry and checks every filter on it, so a value cut
short or an index that lies never yields a wrong result (``auditlog audit`` catches an index
that leaves an entry out).

The sequencing time of a batch is the injected clock's time when the writer committed it,
never earlier than the batch before (a clock stepped back does not unsort the map).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final

from auditlog_tlog.common.searchfields import entry_fields, raw_keyed
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.layout import LogKeys
from auditlog_tlog.tree.errors import CorruptionError

MAX_VALUE_BYTES: Final = 128
CODES: Final = {"actor": b"a", "action": b"c", "resource": b"r", "outcome": b"o",
                "source": b"s", "principal": b"p", "request_id": b"q"}
_END: Final = b"\x00\x00"
_TIME: Final = b"T"
_BATCH: Final = b"B"
_FROM: Final = b"F"
_U64_MAX: Final = 2**64 - 1


def _u64(value: int) -> bytes:
    return min(max(value, 0), _U64_MAX).to_bytes(8, "big")


def _escape(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")[:MAX_VALUE_BYTES].replace(b"\x00", b"\x00\xff")


def field_code(name: str) -> bytes:
    """The key bytes of a field: one of ``CODES`` or ``attr.<key>``."""
    if name.startswith("attr."):
        return b"@" + _escape(name[5:]) + _END
    code = CODES.get(name)
    if code is None:
        raise ValueError(f"field {name!r}: want one of {sorted(CODES)} or attr.<key>")
    return code


class LogIndex:
    """Writes (the log's writer thread) and reads (any thread) of one log's search index."""

    def __init__(self, db: Database, keys: LogKeys, attribute_keys: Sequence[str],
                 now_ns: Callable[[], int]) -> None:
        self._db = db
        self._keys = keys
        self._base = keys.search
        self.attribute_keys = tuple(attribute_keys)
        self._now_ns = now_ns
        self._fields = {name: self._base + field_code(name) for name in CODES}
        self._last_ns = next((int.from_bytes(v, "big") for _, v in self._db.scan_back(
            self._base + _BATCH, self._base + _BATCH + b"\xff")), 0)
        self.indexed_from = 0

    def start(self, size: int) -> None:
        """Read where the index begins; a log opened with it for the first time begins at
        ``size`` (the writer is not running yet)."""
        raw = self._db.get(self._base + _FROM)
        if raw is None:
            wb = self._db.batch()
            wb.put(self._base + _FROM, _u64(size))
            self._db.write(wb)
            self.indexed_from = size
        else:
            self.indexed_from = int.from_bytes(raw, "big")

    # -- writes ------------------------------------------------------------------------------
    def rows(self, entries: Sequence[tuple[int, bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The index rows of a batch of (index, entry, leaf hash), to write with the entries."""
        now = max(self._now_ns(), self._last_ns)
        self._last_ns = now
        first = entries[0][0]
        base = self._base
        rows = [(base + _TIME + _u64(now) + _u64(first), b""),
                (base + _BATCH + _u64(first), _u64(now))]
        keys = self.attribute_keys
        fixed = self._fields
        append = rows.append
        for index, entry, _ in entries:
            if entry[:1] != b"{":
                continue  # opaque: only the batch's time
            tail = _END + index.to_bytes(8, "big")
            raw = raw_keyed(entry, bool(keys))
            if raw is not None:  # the fast path: values as they are in the entry
                for name, value in raw:
                    append((fixed[name] + value[:MAX_VALUE_BYTES] + tail, b""))
                continue
            fields = entry_fields(entry, keys)
            if fields is None:
                continue
            for name, text in fields.keyed():
                append((self._prefix(name) + _escape(text) + tail, b""))
        return rows

    def _prefix(self, name: str) -> bytes:
        found = self._fields.get(name)
        return found if found is not None else self._base + field_code(name)

    # -- reads -------------------------------------------------------------------------------
    def postings(self, name: str, value: str, begin: int, end: int,
                 newest: bool) -> Iterator[int]:
        """Indexes in [begin, end) filed under ``name`` = ``value``, newest or oldest first."""
        head = self._prefix(name) + _escape(value) + _END
        return self._indexes(head, begin, end, newest)

    def _indexes(self, head: bytes, begin: int, end: int, newest: bool) -> Iterator[int]:
        low, high = head + _u64(begin), head + _u64(end)
        scan = self._db.scan_back(low, high) if newest else self._db.scan(low, high)
        for key, _ in scan:
            yield int.from_bytes(key[-8:], "big")

    def prefix_postings(self, name: str, prefix: str, begin: int, end: int, newest: bool,
                        max_values: int) -> Iterator[int] | None:
        """Indexes in [begin, end) under any value of ``name`` starting with ``prefix``, in
        order; ``None`` when more than ``max_values`` distinct values start with it."""
        heads = self._values(self._prefix(name) + _escape(prefix), max_values)
        if heads is None:
            return None
        streams = [self._indexes(head, begin, end, newest) for head in heads]
        return heapq.merge(*streams, reverse=newest)

    def _values(self, start: bytes, limit: int) -> list[bytes] | None:
        """The distinct ``<field><value>00 00`` heads of keys starting with ``start`` (a seek per
        value: after one value's postings comes the next value)."""
        heads: list[bytes] = []
        end = start + b"\xff" * 9
        seek = start
        while True:
            found = next(iter(self._db.scan(seek, end)), None)
            if found is None:
                return heads
            if len(heads) >= limit:
                return None
            head = found[0][:-8]
            heads.append(head)
            seek = head[:-2] + b"\x00\x01"  # past every posting of this value

    def entries_at(self, indexes: Sequence[int]) -> list[bytes]:
        """The entries at ``indexes`` (committed ones), in that order."""
        values = self._db.get_many([self._keys.entry(i) for i in indexes])
        if any(v is None for v in values):
            missing = [i for i, v in zip(indexes, values, strict=True) if v is None]
            raise CorruptionError(f"entries missing at indexes {missing[:8]}")
        return [v for v in values if v is not None]

    def filed(self, name: str, value: str, index: int) -> bool:
        """Whether the entry at ``index`` is filed under ``name`` = ``value``."""
        return self._db.get(self._prefix(name) + _escape(value) + _END + _u64(index)) is not None

    def index_range(self, since_ns: int | None, until_ns: int | None, size: int) -> tuple[int, int]:
        """[begin, end): the entries below ``size`` sequenced from ``since_ns`` to ``until_ns``
        (inclusive, either open)."""
        begin = 0 if since_ns is None else self._first_at(since_ns, size)
        end = size if until_ns is None else self._first_at(until_ns + 1, size)
        return min(begin, size), min(max(begin, end), size)

    def _first_at(self, ns: int, size: int) -> int:
        """The first index of the first batch sequenced at or after ``ns`` (else ``size``)."""
        low = self._base + _TIME + _u64(ns)
        for key, _ in self._db.scan(low, self._base + _TIME + b"\xff" * 16):
            return int.from_bytes(key[-8:], "big")
        return size

    def logged_at(self, index: int) -> int | None:
        """When the batch holding ``index`` was sequenced (Unix ns), if the index knows."""
        head = self._base + _BATCH
        for _, value in self._db.scan_back(head, head + _u64(index + 1)):
            return int.from_bytes(value, "big")
        return None

    def logged_at_many(self, indexes: Sequence[int]) -> list[int | None]:
        """:meth:`logged_at` of each of ``indexes``."""
        head = self._base + _BATCH
        found = self._db.floors([head + _u64(i) for i in indexes], head)
        return [None if f is None else int.from_bytes(f[1], "big") for f in found]

    def batches(self, begin: int, end: int) -> Iterable[tuple[int, int]]:
        """(first index, logged_at ns) of the batches starting in [begin, end), ascending."""
        head = self._base + _BATCH
        for key, value in self._db.scan(head + _u64(begin), head + _u64(end)):
            yield int.from_bytes(key[-8:], "big"), int.from_bytes(value, "big")
