"""The search index of one log, in the log's own key space (docs/search.md).

It is written in the same WriteBatch as the entries it indexes (``LogStore.extra_rows``), so
it never lags the tree and an acknowledged entry is never missing from it after a crash. Keys,
after the log's prefix and ``K`` (``LogKeys.search``)::

    <field> <value> 00 00 <first u64>    -> <w> <offsets>  a posting list: the entries of the
                                                           batch starting at first with value
    <code> <first u64>                   -> ff <v> ff ...  a batch list: the batch's values of
                                                           one field (``LISTED``: request id,
                                                           action, outcome), in entry order
                                                           (storage/batchlists.py)
    T <logged_at u64 ns> <first u64>     -> ''             time -> index: a batch sequenced then
    B <first u64>                        -> <ns u64>       index -> time: the same batch
    F                                    -> <index u64>    the first index the index covers
    V                                    -> <version u8>   the layout (``VERSION``)

A posting list holds, for one committed batch, the offsets from the batch's first index of its
entries filed under the value, ascending, each ``w`` bytes little-endian (``w`` is one byte, 2
when the batch has at most 65,536 entries, else 4). One key per (field, value) per batch, not
per entry: a batch of 1,000 events from a few hundred actors writes a few hundred keys.

Request ids (one value per entry: a posting list per entry) and the action and outcome (a
handful of values: grouping them by value costs a Python operation per entry) are batch lists
instead, which a search reads batch by batch.

``F`` is set when a log first opens with its index on: a log that existed before (or was
restored from its bucket) has no postings for the entries below it, and the audit checks the
index from there on. The postings of another layout (no ``V``, or another version) are dropped
at open and begin again at the log's size, as on a first open (there is no conversion);
the time map, the same in all, is kept.

``<field>`` is one byte for the fixed fields (``a`` actor, ``r`` resource,
``s`` source, ``p`` principal) or ``@ <key> 00 00`` for a
configured attribute. A value is its UTF-8, cut to ``MAX_VALUE_BYTES``, with every 00 byte
written 00 ff, so ``00 00`` ends it and the lists of one value sort by index: a page of the
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
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from operator import itemgetter
from typing import Final

from auditlog_tlog.common.clock import Clock, SystemClock
from auditlog_tlog.common.eventbatch import Grouped, grouped_column, plain_batch
from auditlog_tlog.common.searchfields import (
    entry_fields,
    event_columns,
    group_events,
    ingested_columns,
    raw_keyed,
)
from auditlog_tlog.storage import batchlists
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.indexkeys import (
    CODES,
    END,
    LISTED,
    MAX_VALUE_BYTES,
    U64_MAX,
    escape,
    field_code,
    merge,
    u64,
    utf8,
)
from auditlog_tlog.storage.layout import LogKeys
from auditlog_tlog.storage.postings import (
    all_offsets,
    pack2,
    pack_offsets,
    singles,
    unpack_offsets,
)
from auditlog_tlog.tree.errors import CorruptionError

VERSION: Final = 3
_TIME: Final = b"T"
_BATCH: Final = b"B"
_FROM: Final = b"F"
_VERSION: Final = b"V"


class LogIndex:
    """Writes (the log's writer thread) and reads (any thread) of one log's search index."""

    def __init__(self, db: Database, keys: LogKeys, attribute_keys: Sequence[str],
                 now_ns: Callable[[], int], clock: Clock | None = None) -> None:
        self._db = db
        self._keys = keys
        self._base = keys.search
        self.attribute_keys = tuple(attribute_keys)
        self._now_ns = now_ns
        self.clock: Clock = clock or SystemClock()  # the server's, for search deadlines
        self._fields = {name: self._base + field_code(name) for name in CODES}
        self._last_ns = next((int.from_bytes(v, "big") for _, v in self._db.scan_back(
            self._base + _BATCH, self._base + _BATCH + b"\xff")), 0)
        self.indexed_from = 0

    def start(self, size: int) -> None:
        """Read where the index begins; a log opened with it for the first time, or holding an
        index of another layout (dropped here), begins at ``size`` (the writer is not running)."""
        raw = self._db.get(self._base + _FROM)
        if raw is not None and self._db.get(self._base + _VERSION) == bytes([VERSION]):
            self.indexed_from = int.from_bytes(raw, "big")
            return
        wb = self._db.batch()
        end = self._base[:-1] + bytes([self._base[-1] + 1])
        kept = (self._base + _TIME, self._base + _BATCH)  # the time map's layout is the same
        for key, _ in self._db.scan(self._base, end):
            if not key.startswith(kept):
                wb.delete(key)
        wb.put(self._base + _FROM, u64(size))
        wb.put(self._base + _VERSION, bytes([VERSION]))
        self._db.write(wb)
        self.indexed_from = size

    # -- writes ------------------------------------------------------------------------------
    def rows(self, entries: Sequence[tuple[int, bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The index rows of a batch of (index, entry, leaf hash), to write with the entries."""
        now = max(self._now_ns(), self._last_ns)
        self._last_ns = now
        first = entries[0][0]
        base = self._base
        rows = [(base + _TIME + u64(now) + u64(first), b""),
                (base + _BATCH + u64(first), u64(now))]
        keys = self.attribute_keys
        tail = END + u64(first)
        width = 2 if entries[-1][0] - first < 1 << 16 else 4
        consecutive = entries[-1][0] - first == len(entries) - 1  # as a committed batch is
        if consecutive:  # as a committed batch is; the common case first
            batch = list(map(itemgetter(1), entries))
            if not any(map(bytes.startswith, batch, itertools.repeat(b"{"))):  # a loop in C
                return rows  # no entry starts with "{": opaque, only the batch's time
            plain = plain_batch(batch, LISTED, batchlists.SEP)
            if plain is not None:  # plain events only: no Python operation per entry but one
                for grouped in plain.grouped:
                    self._grouped_rows(rows, grouped, tail, width, len(entries))
                for joined in plain.joined:
                    self._list_row(rows, joined.name, first,
                                   batchlists.joined_value(joined.joined, len(entries)))
                return rows
            columns = event_columns(batch, bool(keys))
            if columns is None:
                columns = ingested_columns(batch, bool(keys))
            if columns is not None:  # canonical events only (some with attributes), or records
                for each in columns:
                    if each.name in LISTED:
                        self._list_row(rows, each.name, first, batchlists.column_value(each))
                    else:
                        self._grouped_rows(rows, grouped_column(each.name, each.items), tail,
                                           width, len(entries))
                return rows
        events, rest = group_events(entries, first, bool(keys))
        listed = {name: [b""] * (entries[-1][0] - first + 1) for name in LISTED}  # by offset
        fast: dict[tuple[str, bytes], list[int]] = {}  # (field, value as in the entry)
        slow: dict[tuple[str, str], list[int]] = {}  # (field, value parsed)
        for offset, entry in rest:
            if entry[:1] != b"{":
                continue  # opaque: only the batch's time
            raw = raw_keyed(entry, bool(keys))
            if raw is not None:  # canonical, but not an event without attributes
                for pair in raw:
                    if pair[0] in listed:
                        listed[pair[0]][offset] = pair[1]
                    else:
                        fast.setdefault(pair, []).append(offset)
                continue
            fields = entry_fields(entry, keys)
            if fields is None:
                continue
            for parsed in fields.keyed():
                if parsed[0] in listed:
                    listed[parsed[0]][offset] = utf8(parsed[1])
                else:
                    slow.setdefault(parsed, []).append(offset)
        fixed = self._fields
        merged: dict[bytes, list[int]] = {}  # keys that more than one source may give
        if fast or slow:
            for (name, value), offsets in fast.items():
                merge(merged, fixed[name] + value[:MAX_VALUE_BYTES] + tail, offsets)
            for (name, text), offsets in slow.items():
                merge(merged, self._prefix(name) + escape(text) + tail, offsets)
        one = bytes([width])
        append = rows.append
        for name, column in events:  # the common case, as few operations a list as can be
            if name in listed:
                for value, offsets in column.items():
                    for offset in offsets:
                        listed[name][offset] = value
                continue
            head = fixed[name]
            for value, offsets in column.items():
                if merged or len(value) >= MAX_VALUE_BYTES:  # may share a key
                    merge(merged, head + value[:MAX_VALUE_BYTES] + tail, offsets)
                elif len(offsets) == 1:
                    append((head + value + tail, one + offsets[0].to_bytes(width, "little")))
                else:
                    append((head + value + tail, pack_offsets(offsets, width)))
        rows.extend((key, pack_offsets(offsets, width)) for key, offsets in merged.items())
        for name, values in listed.items():
            self._list_row(rows, name, first, batchlists.list_value(values))
        return rows

    def _list_row(self, rows: list[tuple[bytes, bytes]], name: str, first: int,
                  value: bytes | None) -> None:
        """Add the batch's list of a listed field, if any entry has a value."""
        if value is not None:
            rows.append((self._base + LISTED[name] + u64(first), value))

    def _grouped_rows(self, rows: list[tuple[bytes, bytes]], grouped: Grouped, tail: bytes,
                      width: int, count: int) -> None:
        """Add the posting lists of one field over a batch of ``count`` entries: one key per
        value, built in one comprehension each for the keys and the packed offsets."""
        values, offsets = grouped.values, grouped.offsets
        if not values:
            return
        if max(map(len, values)) >= MAX_VALUE_BYTES:  # values cut to the same bytes share one
            cut: dict[bytes, list[int]] = {}
            for value, each in zip(values, offsets, strict=True):
                merge(cut, value[:MAX_VALUE_BYTES], list(each))
            values, offsets = list(cut), list(cut.values())
        head = self._fields[grouped.name]
        ones = singles(width, count)
        every = all_offsets(width, count)
        many = pack2 if width == 2 else partial(pack_offsets, width=width)
        rows.extend(zip([head + value + tail for value in values],
                        [ones[each[0]] if len(each) == 1 else every if len(each) == count
                         else many(each) for each in offsets], strict=True))

    def _prefix(self, name: str) -> bytes:
        found = self._fields.get(name)
        return found if found is not None else self._base + field_code(name)

    # -- reads -------------------------------------------------------------------------------
    def postings(self, name: str, value: str, begin: int, end: int,
                 newest: bool) -> Iterator[int]:
        """Indexes in [begin, end) filed under ``name`` = ``value``, newest or oldest first."""
        if name in LISTED:
            return batchlists.indexes(self._lists(name, begin, end, newest), utf8(value), False,
                                      begin, end, newest)
        head = self._prefix(name) + escape(value) + END
        return self._indexes(head, begin, end, newest)

    def _lists(self, name: str, begin: int, end: int, newest: bool
               ) -> Iterator[tuple[int, bytes]]:
        """(first index, value) of the lists of a listed field of the batches holding [begin,
        end), newest or oldest first."""
        if begin >= end:
            return
        head = self._base + LISTED[name]
        if newest:
            found: Iterable[tuple[bytes, bytes]] = self._db.scan_back(head, head + u64(end))
        else:
            floor = next(iter(self._db.scan_back(head, head + u64(begin + 1))), None)
            later = self._db.scan(head + u64(begin + 1), head + u64(end))
            found = itertools.chain(() if floor is None else (floor,), later)
        for key, value in found:
            yield int.from_bytes(key[-8:], "big"), value

    def _indexes(self, head: bytes, begin: int, end: int, newest: bool) -> Iterator[int]:
        if begin >= end:
            return
        if newest:  # the lists of batches starting before end, back to the one holding begin
            for key, value in self._db.scan_back(head, head + u64(end)):
                first = int.from_bytes(key[-8:], "big")
                for offset in reversed(unpack_offsets(value)):
                    index = first + offset
                    if index < begin:
                        return
                    if index < end:
                        yield index
                if first <= begin:
                    return
            return
        floor = next(iter(self._db.scan_back(head, head + u64(begin + 1))), None)
        later = self._db.scan(head + u64(begin + 1), head + u64(end))
        for key, value in itertools.chain(() if floor is None else (floor,), later):
            first = int.from_bytes(key[-8:], "big")
            for offset in unpack_offsets(value):
                index = first + offset
                if index >= end:
                    return
                if index >= begin:
                    yield index

    def density(self, name: str, value: str, index: int) -> int:
        """How many entries the list of ``name`` = ``value`` nearest at or before ``index``
        holds (0 when none): one seek, for choosing which filter drives a search. A listed field
        counts the entries with the value in the batch holding ``index``; a request id (read
        from every batch's list, for about one entry) counts as the most: any other exact
        filter drives before it."""
        if name == "request_id":
            return U64_MAX
        if name in LISTED:
            head = self._base + LISTED[name]
            for _, raw in self._db.scan_back(head, head + u64(index + 1)):
                return batchlists.count(raw, utf8(value))
            return 0
        head = self._prefix(name) + escape(value) + END
        for _, raw in self._db.scan_back(head, head + u64(index + 1)):
            return (len(raw) - 1) // max(raw[0], 1) if raw else 0
        return 0

    def prefix_postings(self, name: str, prefix: str, begin: int, end: int, newest: bool,
                        max_values: int) -> Iterator[int] | None:
        """Indexes in [begin, end) under any value of ``name`` starting with ``prefix``, in
        order; ``None`` when more than ``max_values`` distinct values start with it (or, for a
        listed field, when the prefix is empty)."""
        if name in LISTED:
            if not prefix:
                return None  # every entry with a value: the index range is as good
            return batchlists.indexes(self._lists(name, begin, end, newest), utf8(prefix), True,
                                      begin, end, newest)
        heads = self._values(self._prefix(name) + escape(prefix), max_values)
        if heads is None:
            return None
        streams = [self._indexes(head, begin, end, newest) for head in heads]
        return heapq.merge(*streams, reverse=newest)

    def _values(self, start: bytes, limit: int) -> list[bytes] | None:
        """The distinct ``<field><value>00 00`` heads of keys starting with ``start`` (a seek per
        value: after one value's lists comes the next value)."""
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
            seek = head[:-2] + b"\x00\x01"  # past every list of this value

    def entries_at(self, indexes: Sequence[int]) -> list[bytes]:
        """The entries at ``indexes`` (committed ones), in that order."""
        values = self._db.get_many([self._keys.entry(i) for i in indexes])
        if any(v is None for v in values):
            missing = [i for i, v in zip(indexes, values, strict=True) if v is None]
            raise CorruptionError(f"entries missing at indexes {missing[:8]}")
        return [v for v in values if v is not None]

    def filed(self, name: str, value: str, index: int) -> bool:
        """Whether the entry at ``index`` is filed under ``name`` = ``value``."""
        if name in LISTED:
            head = self._base + LISTED[name]
            for key, raw in self._db.scan_back(head, head + u64(index + 1)):
                return batchlists.at(raw, index - int.from_bytes(key[-8:], "big")) == utf8(value)
            return False
        head = self._prefix(name) + escape(value) + END
        for key, raw in self._db.scan_back(head, head + u64(index + 1)):
            return index - int.from_bytes(key[-8:], "big") in unpack_offsets(raw)
        return False

    def index_range(self, since_ns: int | None, until_ns: int | None, size: int) -> tuple[int, int]:
        """[begin, end): the entries below ``size`` sequenced from ``since_ns`` to ``until_ns``
        (inclusive, either open)."""
        begin = 0 if since_ns is None else self._first_at(since_ns, size)
        end = size if until_ns is None else self._first_at(until_ns + 1, size)
        return min(begin, size), min(max(begin, end), size)

    def _first_at(self, ns: int, size: int) -> int:
        """The first index of the first batch sequenced at or after ``ns`` (else ``size``)."""
        low = self._base + _TIME + u64(ns)
        for key, _ in self._db.scan(low, self._base + _TIME + b"\xff" * 16):
            return int.from_bytes(key[-8:], "big")
        return size

    def logged_at(self, index: int) -> int | None:
        """When the batch holding ``index`` was sequenced (Unix ns), if the index knows."""
        head = self._base + _BATCH
        for _, value in self._db.scan_back(head, head + u64(index + 1)):
            return int.from_bytes(value, "big")
        return None

    def logged_at_many(self, indexes: Sequence[int]) -> list[int | None]:
        """:meth:`logged_at` of each of ``indexes``."""
        head = self._base + _BATCH
        found = self._db.floors([head + u64(i) for i in indexes], head)
        return [None if f is None else int.from_bytes(f[1], "big") for f in found]

    def batches(self, begin: int, end: int) -> Iterable[tuple[int, int]]:
        """(first index, logged_at ns) of the batches starting in [begin, end), ascending."""
        head = self._base + _BATCH
        for key, value in self._db.scan(head + u64(begin), head + u64(end)):
            yield int.from_bytes(key[-8:], "big"), int.from_bytes(value, "big")
