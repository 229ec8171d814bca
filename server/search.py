"""Search one log: filters, time ranges, pages with a cursor, every result with an inclusion
proof to one checkpoint (docs/search.md).

A query is an AND of filters on the fields of ``common.searchfields`` (an exact value, or a
prefix ending in ``*`` on any field), optionally the sequencing time range ``since``/``until``
(RFC 3339, inclusive) and an index range. The plan: one filter drives (an exact one if any,
the rarest by the posting lists nearest the page's start, ties in the order of ``_DRIVERS``;
else a prefix whose values are few enough to merge; else the
index range itself), its postings come newest or oldest first, and each candidate's entry is
read and checked against every filter, so what the index proposes is never taken on trust.

Bounds: at most ``MAX_LIMIT`` results a page, at most ``max_scan`` candidates read a call and a
deadline; a call that runs out of either returns the results so far and a cursor to go on
from. The cursor names the checkpoint size of the first page, so every page of a search is
proven to the same tree, and a digest of the query, so it cannot be used for another one.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from auditlog_tlog.common.clock import Clock, SystemClock
from auditlog_tlog.common.searchfields import NAMES, EntryFields, entry_fields, matches
from auditlog_tlog.server.config import LogConfig
from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.index import LogIndex
from auditlog_tlog.storage.indexkeys import MAX_VALUE_BYTES
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.errors import MalformedError, NotFoundError

MAX_LIMIT: Final = 100
MAX_INDEXES: Final = 10_000  # results a page when only their indexes are asked for
MAX_FILTER_CHARS: Final = 1024
MAX_FILTERS: Final = 16
MAX_PREFIX_VALUES: Final = 256  # a prefix with more distinct values does not drive
_DRIVERS: Final = ("actor", "resource", "principal", "action", "source", "outcome", "request_id")
_CURSOR_VERSION: Final = 1
_CHUNK: Final = 256  # candidate entries read at once
_RFC3339: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})", re.ASCII)


@dataclass(frozen=True, slots=True)
class Filter:
    """``field`` equals ``value``, or (``prefix``) starts with it."""

    field: str
    value: str
    prefix: bool = False

    def matches(self, fields: EntryFields | None) -> bool:
        return matches(fields, self.field, self.value, self.prefix)


@dataclass(frozen=True, slots=True)
class Query:
    filters: tuple[Filter, ...] = ()
    since_ns: int | None = None
    until_ns: int | None = None
    newest: bool = True
    limit: int = MAX_LIMIT
    cursor: str = ""
    begin: int = 0
    end: int | None = None
    indexes_only: bool = False

    def __post_init__(self) -> None:
        most = MAX_INDEXES if self.indexes_only else MAX_LIMIT
        if not 1 <= self.limit <= most:
            raise MalformedError(f"limit: got {self.limit}, want 1..{most}")
        if self.end is not None and self.end < self.begin:
            raise MalformedError(f"index range: got [{self.begin}, {self.end}), want begin <= end")

    def digest(self) -> bytes:
        """What a cursor binds: everything but the limit and the cursor itself."""
        text = repr((self.filters, self.since_ns, self.until_ns, self.newest, self.begin, self.end,
                     self.indexes_only))
        return hashlib.sha256(text.encode()).digest()[:8]


@dataclass(frozen=True, slots=True)
class Hit:
    """One result; for an ``indexes_only`` query, only ``index`` is set (``entry`` is empty)."""

    index: int
    entry: bytes
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    fields: EntryFields | None
    logged_at_ns: int | None


@dataclass(frozen=True, slots=True)
class Page:
    checkpoint: bytes
    size: int
    hits: tuple[Hit, ...]
    next_cursor: str | None
    scanned: int
    indexed_from: int = 0  # entries below it are not searched (see storage/index.py; pruned)


def parse_filter(field: str, pattern: str) -> Filter:
    """A filter from a field name and its pattern (``value`` or ``prefix*``)."""
    if field not in NAMES and not (field.startswith("attr.") and len(field) > 5):
        raise MalformedError(f"unknown field {field[:64]!r}, want one of {', '.join(NAMES)} "
                             "or attr.<key>")
    if len(field) > MAX_FILTER_CHARS:
        raise MalformedError(f"{field[:64]}…: got a field name of {len(field)} characters, want "
                             f"at most {MAX_FILTER_CHARS}")
    if not pattern or len(pattern) > MAX_FILTER_CHARS:
        raise MalformedError(f"{field}: got a pattern of {len(pattern)} characters, want "
                             f"1..{MAX_FILTER_CHARS}")
    prefix = pattern.endswith("*")
    value = pattern[:-1] if prefix else pattern
    if "*" in value or "?" in value:
        raise MalformedError(f"{field}: bad pattern {pattern[:64]!r}, want a value or a "
                             "prefix ending in one '*'")
    return Filter(field, value, prefix)


def parse_time_ns(name: str, text: str) -> int:
    """RFC 3339 with an offset (section 5.6 ``date-time``, a 'T' between date and time and
    1..9 fraction digits), as Unix nanoseconds; MalformedError naming ``name``.

    Checked against the grammar first: ``datetime.fromisoformat`` also reads ISO 8601 forms
    that are not RFC 3339 (``20260101T000000Z``, week dates ``2026-W01-1``, ``+01`` offsets, a
    comma fraction it then dropped) and, on Python 3.11, a NUL before the offset."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise MalformedError(f"{name}: got {text[:64]!r}, want RFC 3339 "
                             "(2026-11-01T00:00:00Z, 1..9 fraction digits, Z or +hh:mm)")
    head, fraction, offset = match.groups()
    try:
        when = datetime.fromisoformat(head + ("+00:00" if offset in "Zz" else offset))
    except ValueError:
        raise MalformedError(f"{name}: got {text[:64]!r}, want RFC 3339 with a date and "
                             "time that exist (2026-11-01T00:00:00Z)") from None
    seconds = int(when.timestamp())
    if seconds < 0:
        raise MalformedError(f"{name}: got {text[:64]!r}, want a time after 1970")
    return seconds * 10**9 + int((fraction or "").ljust(9, "0"))


def _encode_cursor(query: Query, size: int, position: int) -> str:
    raw = bytes([_CURSOR_VERSION]) + size.to_bytes(8, "big") + position.to_bytes(8, "big")
    return base64.urlsafe_b64encode(raw + query.digest()).decode().rstrip("=")


def _decode_cursor(query: Query) -> tuple[int, int] | None:
    if not query.cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(query.cursor + "=" * (-len(query.cursor) % 4))
    except ValueError:
        raw = b""
    if len(raw) != 25 or raw[0] != _CURSOR_VERSION:
        raise MalformedError("cursor: got something this server did not write, want the "
                             "next_cursor of the page before")
    if raw[17:] != query.digest():
        raise MalformedError("cursor: it belongs to another query, want the same filters, "
                             "times and order as the page before")
    return int.from_bytes(raw[1:9], "big"), int.from_bytes(raw[9:17], "big")


class Searcher:
    """Answers searches of one log (any thread; reads only)."""

    def __init__(self, runtime: LogRuntime, index: LogIndex, max_scan: int = 10_000,
                 deadline_s: float = 2.0, clock: Clock | None = None) -> None:
        self._runtime = runtime
        self._index = index
        self._max_scan = max_scan
        self._deadline_s = deadline_s
        self._clock = clock or SystemClock()

    def search(self, query: Query) -> Page:
        store = self._runtime.store
        resumed = _decode_cursor(query)
        if resumed is None:
            _, size, _ = self._runtime.latest_checkpoint()
        else:
            size = resumed[0]
        note = store.checkpoint(size)
        if note is None:
            raise NotFoundError(f"no checkpoint stored at size {size}; start the search again")
        begin, end = self._index.index_range(query.since_ns, query.until_ns, size)
        begin, end = max(begin, query.begin), min(end, size if query.end is None else query.end)
        begin = max(begin, store.pruned)  # entries pruned after publication are not searched
        if resumed is not None:
            if query.newest:
                end = min(end, resumed[1])
            else:
                begin = max(begin, resumed[1])
        if begin >= end:
            return Page(note, size, (), None, 0, self._covered())
        return self._page(query, note, size, begin, end)

    def _candidates(self, query: Query, begin: int, end: int) -> Iterator[int]:
        exact = {f.field: f for f in query.filters if not f.prefix}
        order = [name for name in (*_DRIVERS, *sorted(set(exact) - set(_DRIVERS)))
                 if name in exact]
        if len(order) > 1:  # the rarest drives, judged by the lists of the batch nearest
            edge = end - 1 if query.newest else begin  # where the page starts
            order.sort(key=lambda n: self._index.density(n, exact[n].value, edge))
        if order:
            name = order[0]
            return self._index.postings(name, exact[name].value, begin, end, query.newest)
        for f in query.filters:
            if len(f.value.encode()) < MAX_VALUE_BYTES:
                merged = self._index.prefix_postings(f.field, f.value, begin, end, query.newest,
                                                     MAX_PREFIX_VALUES)
                if merged is not None:
                    return merged
        return iter(range(end - 1, begin - 1, -1) if query.newest else range(begin, end))

    def _page(self, query: Query, note: bytes, size: int, begin: int, end: int) -> Page:
        store, attrs = self._runtime.store, self._index.attribute_keys
        hasher = store.hasher
        deadline = self._clock.monotonic() + self._deadline_s
        candidates = self._candidates(query, begin, end)
        hits: list[Hit] = []
        scanned = 0
        position: int | None = None  # where the next page starts, if anything is left
        while True:
            want = min(query.limit - len(hits), self._max_scan - scanned)
            chunk = list(itertools.islice(candidates, min(max(want, 1), _CHUNK)))
            if not chunk:
                break
            if want <= 0 or self._clock.monotonic() > deadline:
                position = chunk[0] + 1 if query.newest else chunk[0]
                break
            scanned += len(chunk)
            matched = []
            for index, entry in zip(chunk, self._index.entries_at(chunk), strict=True):
                fields = entry_fields(entry, attrs)
                if all(f.matches(fields) for f in query.filters):
                    matched.append((index, entry, fields))
            if query.indexes_only:
                hits.extend(Hit(index, b"", b"", (), None, None) for index, _, _ in matched)
            elif matched:
                indexes = [index for index, _, _ in matched]
                proofs = store.inclusion_proofs(indexes, size)
                times = self._index.logged_at_many(indexes)
                hits.extend(Hit(index, entry, hasher.hash_leaf(entry), proof, fields, logged)
                            for (index, entry, fields), proof, logged
                            in zip(matched, proofs, times, strict=True))
            if len(hits) >= query.limit:
                last = chunk[-1]
                position = last if query.newest else last + 1
                break
        cursor = None if position is None else _encode_cursor(query, size, position)
        return Page(note, size, tuple(hits), cursor, scanned, self._covered())

    def _covered(self) -> int:
        """The first index search covers: the index's start, or the first entry not pruned."""
        return max(self._index.indexed_from, self._runtime.store.pruned)


def query_from_params(params: Mapping[str, str], fields: tuple[str, ...]) -> Query:
    """A query from text parameters (HTTP query string; the CLI): ``fields`` are the filter
    parameters, plus since, until, order, limit and cursor. MalformedError names the one wrong."""
    named = [name for name in fields if params.get(name, "") != ""]
    if len(named) > MAX_FILTERS:  # as the gRPC Search (server/convert.py)
        raise MalformedError(f"filters: got {len(named)}, want at most {MAX_FILTERS}")
    filters = tuple(parse_filter(name, params[name]) for name in named)
    order = params.get("order", "newest") or "newest"
    if order not in ("newest", "oldest"):
        raise MalformedError(f"order: got {order[:32]!r}, want newest or oldest")
    raw_limit = params.get("limit", "") or str(MAX_LIMIT)
    # ASCII digits only, and few: str.isdigit() also takes '²' and '١', which int() refuses
    # or reads, and int() of thousands of digits raises ValueError.
    if not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 20) \
            or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise MalformedError(f"limit: got {raw_limit[:32]!r}, want 1..{MAX_LIMIT}")
    since = params.get("since") or None
    until = params.get("until") or None
    return Query(
        filters=filters,
        since_ns=None if since is None else parse_time_ns("since", since),
        until_ns=None if until is None else parse_time_ns("until", until),
        newest=order == "newest", limit=int(raw_limit), cursor=params.get("cursor", ""),
    )


def open_index(db: Database, store: LogStore, config: LogConfig,
               clock: Clock | None) -> LogIndex | None:
    """The log's search index, hooked into its store's commits (``None`` when it is off)."""
    if not config.search_index:
        return None
    now = (clock or SystemClock()).now
    index = LogIndex(db, store.keys, config.index_attributes, lambda: int(now() * 10**9), clock)
    index.start(store.size)
    store.extra_rows = index.rows
    return index


def searcher_of(runtime: LogRuntime, clock: Clock | None = None) -> Searcher:
    """The searcher of one log; NotFoundError when the log keeps no index."""
    if runtime.index is None:
        raise NotFoundError(f"log {runtime.config.origin} keeps no search index "
                            "(search_index = false)")
    return Searcher(runtime, runtime.index, runtime.config.search_max_scan,
                    clock=clock or runtime.index.clock)
