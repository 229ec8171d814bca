"""The index half of ``auditlog audit``: rebuild the search index from the entries and check
that Search finds every entry under every key it should (docs/search.md, "Completeness").

Search only proves what it returns; an index that leaves an entry out hides it. So the audit
reads each entry's fields itself (``common.searchfields``, the reader the server indexes with),
and, a window of entries at a time, asks the log for every (field, value) the window holds
with ``indexes_only`` Search calls bounded to the window. An entry the log does not return
is a finding (the index leaves it out, or files it under another key); an index the log
returns for an entry that does not have that value is one too. Entries below the log's
``indexed_from`` (written before the log kept an index, or restored) are not checked; the
report says from where the index was checked. Request ids (one value per
entry) and configured attributes (the client does not know the log's list) are not checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from auditlog_tlog.client.findings import FindingKind
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.common.searchfields import entry_fields
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.tree.errors import NotFoundError

CHECKED: Final = ("actor", "action", "resource", "outcome", "source", "principal")
WINDOW: Final = 1 << 16
MAX_PATTERN: Final = 1024  # longer values cannot be searched for exactly (server/search.py)
SHOWN: Final = 5

Find = Callable[[FindingKind, str, "int | None"], None]


class IndexCheck:
    """Feed it the entries of [begin, end) in order (:meth:`add`), then :meth:`finish`."""

    def __init__(self, client: LogClient, find: Find, window: int = WINDOW) -> None:
        self._client = client
        self.find = find  # where findings go
        self._window = window
        self._start = 0
        self._next = 0
        self._expected: dict[tuple[str, str], list[int]] = {}
        self.available = True  # False once the log says it keeps no index
        self.keys = 0  # (field, value, index) triples checked
        self.indexed_from: int | None = None  # what the log says its index covers, from there

    def add(self, first: int, page: Sequence[bytes]) -> None:
        if not self._expected and self._next != first:
            self._start = self._next = first
        for index, entry in enumerate(page, start=first):
            fields = entry_fields(entry)
            if fields is not None:
                for name in CHECKED:
                    value = getattr(fields, name)
                    if value is not None and len(value) <= MAX_PATTERN and "*" not in value[-1:]:
                        self._expected.setdefault((name, value), []).append(index)
            self._next = index + 1
            if self._next - self._start >= self._window:
                self._flush()

    def finish(self) -> None:
        self._flush()

    def _flush(self) -> None:
        begin, end, expected = self._start, self._next, self._expected
        self._start, self._expected = end, {}
        if not self.available:
            return
        try:
            if self.indexed_from is None:
                self.indexed_from = self._client.search_page(pb.SearchRequest(
                    limit=1, indexes_only=True)).indexed_from
            begin = max(begin, self.indexed_from)
            for (name, value), want in expected.items():
                self._compare(name, value, begin, end, [i for i in want if i >= begin])
        except NotFoundError:
            self.available = False

    def _compare(self, name: str, value: str, begin: int, end: int, want: list[int]) -> None:
        if begin >= end:
            return
        got = self._found(name, value, begin, end)
        self.keys += len(want)
        wanted = set(want)
        missing = sorted(wanted - got)
        if missing:
            self.find(FindingKind.INDEX_MISSING,
                      f"searching {name}={value!r} in [{begin}, {end}) does not find entries "
                      f"{_some(missing)} that have it: the index leaves them out or files "
                      "them under another key", None)
        extra = sorted(got - wanted)
        if extra:
            self.find(FindingKind.INDEX_MISFILED,
                      f"searching {name}={value!r} in [{begin}, {end}) finds entries "
                      f"{_some(extra)} that do not have it", None)

    def _found(self, name: str, value: str, begin: int, end: int) -> set[int]:
        found: set[int] = set()
        cursor = ""
        while True:
            request = pb.SearchRequest(
                filters=[pb.SearchFilter(field=name, pattern=value)], oldest_first=True,
                begin=begin, end=end, indexes_only=True, cursor=cursor)
            response = self._client.search_page(request)
            found.update(r.index for r in response.results)
            if not response.next_cursor:
                return found
            cursor = response.next_cursor


def _some(indexes: list[int]) -> str:
    shown = ", ".join(map(str, indexes[:SHOWN]))
    return f"{shown} (and {len(indexes) - SHOWN} more)" if len(indexes) > SHOWN else shown
