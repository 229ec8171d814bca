"""server/search.py in process: the plan, the bounds (candidates scanned, deadline), cursors
pinned to one checkpoint, and ingested records searched by their mapped fields."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditlog_tlog.client.event import AuditEvent
from auditlog_tlog.common.searchfields import entry_fields
from auditlog_tlog.server.config import LogConfig
from auditlog_tlog.server.ingest.record import IngestRecord, SearchFields, encode_entry
from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.server.search import (
    Filter,
    Query,
    Searcher,
    open_index,
    parse_filter,
    searcher_of,
)
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.checkpoint import Checkpoint, parse_checkpoint
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import sign_note
from auditlog_tlog.tree.verify import verify_inclusion
from tests.clock import FakeClock

ORIGIN = "search.example/inprocess"
WHEN = datetime(2026, 11, 1, tzinfo=UTC)
SIGNER = Ed25519Signer.generate(ORIGIN)


class TickingClock(FakeClock):
    """Every monotonic reading is a second later: a search that reads it often runs late."""

    def monotonic(self) -> float:
        self.t += 1
        return self.t


@dataclass
class Log:
    db: Database
    store: LogStore
    runtime: LogRuntime

    def append(self, entries: list[bytes]) -> None:
        self.store.commit(self.store.prepare(entries, dedup=False))
        head = Checkpoint(ORIGIN, self.store.size, self.store.root)
        self.store.commit_checkpoint(self.store.size, sign_note(head.to_text(), [SIGNER]))

    def searcher(self, max_scan: int = 10_000, clock: FakeClock | None = None) -> Searcher:
        assert self.runtime.index is not None
        return Searcher(self.runtime, self.runtime.index, max_scan, clock=clock or FakeClock())


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    config = LogConfig(origin=ORIGIN, key_file=tmp_path / "key",
                       index_attributes=("user.username", "service.name"))
    db = Database(tmp_path / "db")
    store = LogStore(db, ORIGIN, SHA256)
    index = open_index(db, store, config, FakeClock())
    yield Log(db, store, LogRuntime(config, "vkey", store, index=index))
    db.close()


def _event(i: int, actor: str = "alice") -> bytes:
    return AuditEvent(actor=actor, action=f"act.{i % 3}", resource="r", time=WHEN,
                      request_id=f"q{i}").encode()


def _pages(searcher: Searcher, query: Query) -> tuple[list[int], int]:
    seen: list[int] = []
    calls = 0
    while True:
        page = searcher.search(query)
        calls += 1
        for hit in page.hits:
            verify_inclusion(SHA256, hit.index, page.size, hit.leaf_hash, hit.proof,
                             parse_checkpoint(page.checkpoint.decode().split("\n\n")[0]
                                              + "\n").root)
        seen.extend(h.index for h in page.hits)
        if page.next_cursor is None:
            return seen, calls
        query = Query(query.filters, query.since_ns, query.until_ns, query.newest, query.limit,
                      page.next_cursor, query.begin, query.end)


def test_a_scan_budget_splits_a_search_into_pages_that_miss_nothing(log: Log) -> None:
    log.append([_event(i, "alice" if i % 10 == 0 else "bob") for i in range(600)])
    query = Query((Filter("actor", "alice"), Filter("action", "act.0")), limit=100)
    found, calls = _pages(log.searcher(max_scan=100), query)
    assert found == [i for i in range(599, -1, -1) if i % 10 == 0 and i % 3 == 0]
    assert calls == 1  # the driving postings hold 60 candidates: within the budget
    found, calls = _pages(log.searcher(max_scan=100), Query((Filter("action", "act.1"),)))
    assert found == [i for i in range(599, -1, -1) if i % 3 == 1] and calls >= 2


def test_the_rarest_exact_filter_drives(log: Log) -> None:
    log.append([AuditEvent(actor="alice", action="act", resource="r", time=WHEN,
                           outcome="failure" if i % 100 == 0 else "success",
                           request_id=f"q{i}").encode() for i in range(600)])
    for newest in (True, False):
        page = log.searcher().search(Query((Filter("actor", "alice"),
                                            Filter("outcome", "failure")), newest=newest))
        assert sorted(h.index for h in page.hits) == list(range(0, 600, 100))
        assert page.scanned == 6  # outcome drove; actor (first in the fixed order) would read 600


def test_a_search_past_its_deadline_returns_what_it_has_and_a_cursor(log: Log) -> None:
    log.append([_event(i, "bob") for i in range(2000)])
    searcher = log.searcher(clock=TickingClock())
    page = searcher.search(Query((Filter("actor", "alice"),)))  # nothing matches: all scanned
    assert page.hits == () and page.next_cursor is None
    page = searcher.search(Query((Filter("actor", "bob"), Filter("action", "act.0", prefix=True)),
                                 limit=100))
    assert page.next_cursor is not None and len(page.hits) < 100 and page.scanned < 2000


def test_the_server_searcher_keeps_the_deadline_on_the_injected_clock(tmp_path: Path) -> None:
    config = LogConfig(origin=ORIGIN, key_file=tmp_path / "key")
    db = Database(tmp_path / "db")
    try:
        store = LogStore(db, ORIGIN, SHA256)
        index = open_index(db, store, config, TickingClock())  # as server/app.py does
        log = Log(db, store, LogRuntime(config, "vkey", store, index=index))
        log.append([_event(i, "bob") for i in range(2000)])
        page = searcher_of(log.runtime).search(Query((Filter("actor", "bob"),
                                                       Filter("action", "act.9", prefix=True))))
        # Nothing matches: on the system clock it reads all 2,000; on this one it runs late.
        assert page.hits == () and page.next_cursor is not None and page.scanned < 2000
    finally:
        db.close()


def test_pages_stay_on_the_first_checkpoint_while_the_log_grows(log: Log) -> None:
    log.append([_event(i) for i in range(30)])
    searcher = log.searcher()
    first = searcher.search(Query((Filter("actor", "alice"),), limit=10))
    log.append([_event(i) for i in range(30, 60)])
    cursor = first.next_cursor
    assert cursor is not None
    second = searcher.search(Query((Filter("actor", "alice"),), limit=10, cursor=cursor))
    assert second.size == first.size == 30 and second.checkpoint == first.checkpoint
    assert [h.index for h in second.hits] == list(range(19, 9, -1))
    fresh = searcher.search(Query((Filter("actor", "alice"),), limit=10))
    assert fresh.size == 60 and fresh.hits[0].index == 59


def test_an_index_range_bounds_the_search(log: Log) -> None:
    log.append([_event(i) for i in range(50)])
    page = log.searcher().search(Query((Filter("actor", "alice"),), begin=10, end=20,
                                       newest=False))
    assert [h.index for h in page.hits] == list(range(10, 20))
    with pytest.raises(MalformedError, match="index range"):
        Query(begin=5, end=4)
    with pytest.raises(MalformedError, match="limit"):
        Query(limit=101)
    assert len(log.searcher().search(Query(limit=10_000, indexes_only=True)).hits) == 50


def test_ingested_records_are_found_by_their_mapped_fields(log: Log) -> None:
    k8s = IngestRecord("k8s-audit", "apiserver", SearchFields(
        actor="system:admin", action="delete", resource="pods/default/web", outcome="success",
        time="2026-11-01T00:00:00Z"), {"user": {"username": "system:admin"}, "verb": "delete"})
    otlp = IngestRecord("otlp-grpc", None, SearchFields(actor="svc-a", action="login"), {
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "sso"}}]},
        "log_record": {"attributes": []}})
    log.append([encode_entry(k8s), encode_entry(otlp), b"not json"])
    searcher = log.searcher()
    for field, value, want in (("principal", "apiserver", [0]), ("source", "k8s-audit", [0]),
                               ("attr.user.username", "system:admin", [0]),
                               ("attr.service.name", "sso", [1]), ("action", "login", [1]),
                               ("resource", "pods/*", [0])):
        page = searcher.search(Query((parse_filter(field, value),)))
        assert [h.index for h in page.hits] == want, field
    fields = entry_fields(encode_entry(k8s), ("verb",))
    assert fields is not None and fields.attributes == (("verb", "delete"),)
    assert entry_fields(b"not json") is None and entry_fields(b'{"v":2,"actor":"a"}') is None


@pytest.mark.parametrize(("field", "pattern", "says"), [
    ("colour", "red", "unknown field 'colour'"),
    ("attr.", "x", "unknown field"),
    ("action", "a*b", "bad pattern"),
    ("action", "a**", "bad pattern"),
    ("resource", "?", "bad pattern"),
    ("actor", "", "want 1..1024"),
    ("actor", "x" * 1025, "want 1..1024"),
    ("attr." + "k" * 1020, "x", "field name of 1025 characters, want at most 1024"),
])
def test_bad_filters_name_the_field(field: str, pattern: str, says: str) -> None:
    with pytest.raises(MalformedError, match=says):
        parse_filter(field, pattern)


def test_a_request_id_is_found_across_batches_within_the_scan_budget(log: Log) -> None:
    for batch in range(60):  # 60 lists of request ids, the one sought in the first
        log.append([_event(batch * 5 + i, "alice" if i else "bob") for i in range(5)])
    found, calls = _pages(log.searcher(max_scan=2), Query((Filter("request_id", "q3"),)))
    assert found == [3] and calls >= 2  # the scan proposed probes, each page went on
    # With another exact filter, that one drives: bob's lists, not every batch's request ids.
    page = log.searcher().search(Query((Filter("request_id", "q5"), Filter("actor", "bob"))))
    assert [h.index for h in page.hits] == [5] and page.scanned == 60
