"""storage/index.py: postings, prefixes, the time map, written with the entries in one batch."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.client.event import AuditEvent
from auditlog_tlog.common.searchfields import raw_keyed
from auditlog_tlog.storage import batchlists
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.index import VERSION, LogIndex
from auditlog_tlog.storage.indexkeys import LISTED, MAX_VALUE_BYTES, field_code
from auditlog_tlog.storage.layout import LogKeys
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.storage.postings import (
    all_offsets,
    pack2,
    pack_offsets,
    singles,
    unpack_offsets,
)
from auditlog_tlog.tree.errors import CorruptionError
from auditlog_tlog.tree.hashing import SHA256
from tests.clock import FakeClock

ORIGIN = "index.example/log"
WHEN = datetime(2026, 11, 1, tzinfo=UTC)
NS = 10**9


class Log:
    def __init__(self, path: Path, attributes: tuple[str, ...] = ("service.name",)) -> None:
        self.clock = FakeClock()
        self.db = Database(path)
        self.store = LogStore(self.db, ORIGIN, SHA256)
        self.index = LogIndex(self.db, self.store.keys, attributes,
                              lambda: int(self.clock.now() * NS))
        self.store.extra_rows = self.index.rows

    def append(self, entries: list[bytes]) -> None:
        self.store.commit(self.store.prepare(entries, dedup=True))


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    opened = Log(tmp_path / "db")
    yield opened
    opened.db.close()


def _event(actor: str, action: str, **attrs: str) -> bytes:
    return AuditEvent(actor=actor, action=action, resource="acme/web", attributes=attrs,
                      time=WHEN).encode()


def test_postings_in_both_orders_and_by_prefix(log: Log) -> None:
    log.append([_event("alice", "repo.delete"), b"opaque", _event("bob", "repo.push"),
                _event("alice", "user.login", **{"service.name": "sso"})])
    log.append([_event("alice", "repo.push")])
    assert list(log.index.postings("actor", "alice", 0, 5, newest=True)) == [4, 3, 0]
    assert list(log.index.postings("actor", "alice", 1, 4, newest=False)) == [3]
    assert list(log.index.postings("actor", "alic", 0, 5, newest=True)) == []
    merged = log.index.prefix_postings("action", "repo.", 0, 5, newest=True, max_values=8)
    assert merged is not None and list(merged) == [4, 2, 0]
    assert log.index.prefix_postings("action", "", 0, 5, newest=True, max_values=2) is None
    assert list(log.index.postings("attr.service.name", "sso", 0, 5, newest=True)) == [3]
    assert list(log.index.postings("outcome", "success", 0, 5, newest=False)) == [0, 2, 3, 4]
    assert log.index.filed("resource", "acme/web", 2) and not log.index.filed("actor", "bob", 0)


def test_values_with_nul_bytes_and_long_values_stay_apart(log: Log) -> None:
    long = "x" * (MAX_VALUE_BYTES + 10)
    log.append([_event("a\x00b", "act"), _event("a", "act"), _event("a\x00", "act"),
                _event(long, "act"), _event(long + "y", "act")])
    assert list(log.index.postings("actor", "a", 0, 5, newest=False)) == [1]
    assert list(log.index.postings("actor", "a\x00", 0, 5, newest=False)) == [2]
    merged = log.index.prefix_postings("actor", "a", 0, 5, newest=False, max_values=8)
    assert merged is not None and list(merged) == [0, 1, 2]
    # Cut to MAX_VALUE_BYTES: the index proposes both, search checks the entries.
    assert list(log.index.postings("actor", long, 0, 5, newest=False)) == [3, 4]


def test_the_time_map_is_per_batch_and_never_goes_back(log: Log) -> None:
    start = int(log.clock.now() * NS)
    log.append([b"one", b"two"])
    log.clock.advance(10)
    log.append([b"three"])
    log.clock.advance(-5)  # a clock stepped back: the batch keeps the time before it
    log.append([b"four"])
    log.clock.advance(20)
    log.append([b"five"])
    assert [log.index.logged_at(i) for i in range(5)] == [
        start, start, start + 10 * NS, start + 10 * NS, start + 25 * NS]
    assert log.index.index_range(None, None, 5) == (0, 5)
    assert log.index.index_range(start + 1, None, 5) == (2, 5)
    assert log.index.index_range(start, start + 10 * NS, 5) == (0, 4)
    assert log.index.index_range(start + 11 * NS, start + 24 * NS, 5) == (4, 4)
    assert log.index.index_range(None, start - 1, 5) == (0, 0)
    assert log.index.index_range(start, None, 3) == (0, 3)  # never beyond the size given
    assert list(log.index.batches(0, 5)) == [(0, start), (2, start + 10 * NS), (3, start + 10 * NS),
                                             (4, start + 25 * NS)]


def test_the_index_survives_a_reopen_and_keeps_time_monotonic(tmp_path: Path) -> None:
    first = Log(tmp_path / "db")
    first.clock.advance(100)
    first.append([_event("alice", "a")])
    first.db.close()
    again = Log(tmp_path / "db")  # its clock is back at the start
    again.append([_event("alice", "b")])
    assert list(again.index.postings("actor", "alice", 0, 2, newest=True)) == [1, 0]
    assert again.index.logged_at(1) == again.index.logged_at(0)
    again.db.close()


def test_a_failed_write_writes_no_index_rows(log: Log) -> None:
    batch = log.store.prepare([_event("alice", "a")], dedup=True)
    log.store.abandon()
    assert batch.entries and list(log.index.postings("actor", "alice", 0, 10, newest=True)) == []
    assert log.index.logged_at(0) is None


def test_duplicates_are_indexed_once(log: Log) -> None:
    log.append([_event("alice", "a"), _event("alice", "a")])
    log.append([_event("alice", "a")])
    assert log.store.size == 1
    assert list(log.index.postings("actor", "alice", 0, 10, newest=True)) == [0]


def test_the_index_begins_where_the_log_was_when_it_was_first_opened(tmp_path: Path) -> None:
    first = Log(tmp_path / "db")
    first.store.extra_rows = None  # a log from before the index
    first.append([_event("alice", "a"), _event("alice", "b")])
    first.db.close()
    again = Log(tmp_path / "db")
    again.index.start(again.store.size)
    again.append([_event("alice", "c")])
    assert again.index.indexed_from == 2
    assert list(again.index.postings("actor", "alice", 0, 3, newest=True)) == [2]
    again.db.close()
    third = Log(tmp_path / "db")
    third.index.start(third.store.size)  # remembered, not moved to the new size
    assert third.index.indexed_from == 2
    third.db.close()


def test_one_posting_list_per_value_per_batch(log: Log) -> None:
    log.append([_event(("alice", "bob")[i % 2], "repo.push", n=str(i)) for i in range(10)])
    lists = [(k, v) for k, v in log.db.scan(log.store.keys.search + b"a",
                                            log.store.keys.search + b"b")]
    assert [k[len(log.store.keys.search):-8] for k, _ in lists] == [b"aalice\x00\x00",
                                                                   b"abob\x00\x00"]
    assert [list(unpack_offsets(v)) for _, v in lists] == [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9]]


def test_lists_across_batches_answer_any_range_in_both_orders(log: Log) -> None:
    rng = random.Random(15)
    actors: list[str] = []
    for _ in range(12):
        batch = [rng.choice(("alice", "bob", "carol")) for _ in range(rng.randint(1, 9))]
        log.append([_event(a, "act", service=str(len(actors) + i)) for i, a in enumerate(batch)])
        actors.extend(batch)
    size = len(actors)
    for _ in range(300):
        begin = rng.randint(0, size)
        end = rng.randint(begin, size)
        actor = rng.choice(("alice", "bob", "carol", "dave"))
        want = [i for i in range(begin, end) if actors[i] == actor]
        assert list(log.index.postings("actor", actor, begin, end, newest=False)) == want
        assert list(log.index.postings("actor", actor, begin, end, newest=True)) == want[::-1]
    assert all(log.index.filed("actor", a, i) for i, a in enumerate(actors))
    assert not any(log.index.filed("actor", "dave", i) for i in range(size))


def test_posting_values_pack_both_widths_and_refuse_garbage() -> None:
    assert pack_offsets([0, 1, 65535], 2) == b"\x02\x00\x00\x01\x00\xff\xff"
    assert pack2([0, 1, 65535]) == pack_offsets([0, 1, 65535], 2)
    assert all_offsets(2, 3) == pack_offsets([0, 1, 2], 2) == all_offsets(2, 3)
    assert list(singles(2, 70)) == [pack_offsets([i], 2) for i in range(70)]
    assert list(unpack_offsets(pack_offsets([0, 70_000], 4))) == [0, 70_000]
    for bad in (b"", b"\x03\x00\x00\x00", b"\x02\x00", b"\x04\x00\x00"):
        with pytest.raises(CorruptionError, match="posting list"):
            unpack_offsets(bad)


def test_a_batch_beyond_65536_entries_packs_four_byte_offsets(log: Log) -> None:
    rows = dict(log.index.rows([(5, _event("alice", "a"), b""), (70_005, _event("alice", "b"), b"")]))
    key = log.store.keys.search + b"aalice\x00\x00" + (5).to_bytes(8, "big")
    assert rows[key][:1] == b"\x04" and list(unpack_offsets(rows[key])) == [0, 70_000]


def test_an_index_of_another_layout_is_dropped_and_begins_again(tmp_path: Path) -> None:
    first = Log(tmp_path / "db")
    first.index.start(0)
    first.append([_event("alice", "a")])
    base = first.store.keys.search
    assert first.db.get(base + b"V") == bytes([VERSION])
    wb = first.db.batch()  # what the layout before posting lists left: no version, one key
    wb.delete(base + b"V")  # per entry with an empty value
    wb.put(base + b"abob\x00\x00" + (0).to_bytes(8, "big"), b"")
    first.db.write(wb)
    first.db.close()
    again = Log(tmp_path / "db")
    again.index.start(again.store.size)
    assert again.index.indexed_from == 1
    assert list(again.index.postings("actor", "bob", 0, 1, newest=True)) == []
    assert list(again.index.postings("actor", "alice", 0, 1, newest=True)) == []
    assert again.db.get(base + b"V") == bytes([VERSION])
    assert again.index.logged_at(0) is not None  # the time map, the same in both, is kept
    again.db.close()


def test_one_value_from_events_records_and_the_parser_shares_one_list(log: Log) -> None:
    record = (b'{"fields":{"action":"a","actor":"alice","outcome":null,"resource":null,'
              b'"time":null},"record":{},"source":{"principal":null,"transport":"otlp-grpc"},'
              b'"v":1}')
    exact = "y" * MAX_VALUE_BYTES
    log.append([_event("alice", "a"), record, _event('al"ice', "a"), _event("alice", "b"),
                _event(exact, "a"), _event(exact + "z", "a"), b"opaque"])
    assert list(log.index.postings("actor", "alice", 0, 7, newest=False)) == [0, 1, 3]
    assert list(log.index.postings("actor", 'al"ice', 0, 7, newest=False)) == [2]
    assert list(log.index.postings("actor", exact, 0, 7, newest=True)) == [5, 4]
    assert list(log.index.postings("source", "otlp-grpc", 0, 7, newest=True)) == [1]
    assert list(log.index.postings("action", "a", 0, 7, newest=False)) == [0, 1, 2, 4, 5]


def test_values_cut_to_the_same_bytes_share_a_list_in_a_batch_of_plain_events(log: Log) -> None:
    exact = "y" * MAX_VALUE_BYTES
    log.append([_event("bob", "a"), _event(exact + "z", "a"), _event(exact, "a"),
                _event(exact + "zz", "a")])
    assert list(log.index.postings("actor", exact, 0, 4, newest=False)) == [1, 2, 3]
    assert list(log.index.postings("actor", "bob", 0, 4, newest=False)) == [0]


class _NoDB:
    def scan_back(self, begin: bytes, end: bytes) -> list[tuple[bytes, bytes]]:
        return []


NAMES = st.sampled_from(["alice", "bob", "y" * MAX_VALUE_BYTES, "y" * MAX_VALUE_BYTES + "z"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(NAMES, NAMES, st.sampled_from(["", "git", "ci"]), st.booleans()),
                min_size=1, max_size=40), st.sampled_from([0, 7, 65_530]))
def test_rows_of_a_batch_of_events_are_one_list_per_value_read_entry_by_entry(
        events: list[tuple[str, str, str, bool]], first: int) -> None:
    """Whichever path builds them (the whole-batch one here), the rows are the posting lists of
    what :func:`raw_keyed` reads from each entry: one key per (field, value cut), offsets in
    order; and one list of the request ids in entry order (``unique`` or all the same)."""
    keys = LogKeys(b"L\x00\x00\x00\x01")
    index = LogIndex(_NoDB(), keys, (), lambda: 5)  # type: ignore[arg-type]
    entries = [AuditEvent(actor=a, action="act", resource=r, source=source,
                          request_id=f"q{i}" if unique else "same", time=WHEN).encode()
               for i, (a, r, source, unique) in enumerate(events)]
    rows = index.rows([(first + i, e, b"") for i, e in enumerate(entries)])
    assert rows[:2] == [(keys.search + b"T" + (5).to_bytes(8, "big") + first.to_bytes(8, "big"),
                         b""), (keys.search + b"B" + first.to_bytes(8, "big"),
                                (5).to_bytes(8, "big"))]
    assert {keys.search + code + first.to_bytes(8, "big") for code in LISTED.values()} <= \
        dict(rows).keys()  # every event has a request id, an action and an outcome
    _assert_rows_are_read_entry_by_entry(index, keys, entries, first, False)


def _assert_rows_are_read_entry_by_entry(index: LogIndex, keys: LogKeys, entries: list[bytes],
                                         first: int, attributes: bool) -> None:
    """The rows of ``entries`` (a batch from ``first``) are the posting lists and batch lists
    that reading each entry with :func:`raw_keyed` gives."""
    rows = index.rows([(first + i, e, b"") for i, e in enumerate(entries)])
    want: dict[bytes, list[int]] = {}
    listed: dict[str, list[bytes]] = {name: [b""] * len(entries) for name in LISTED}
    for offset, entry in enumerate(entries):
        for name, value in raw_keyed(entry, attributes) or ():
            if name in LISTED:
                listed[name][offset] = value
                continue
            key = keys.search + field_code(name) + value[:MAX_VALUE_BYTES] + b"\x00\x00"
            want.setdefault(key + first.to_bytes(8, "big"), []).append(offset)
    lists = {keys.search + code + first.to_bytes(8, "big"): name for name, code in LISTED.items()}
    got = {key: list(unpack_offsets(value)) for key, value in rows[2:] if key not in lists}
    assert len(dict(rows)) == len(rows)  # no key twice in one batch
    assert got == want
    for key, name in lists.items():
        assert dict(rows).get(key) == batchlists.list_value(listed[name])


RAW = st.lists(st.sampled_from([b"a", b"b", b"\xff", b"\xc3\xa9", b"/", b" ", b"y" * 64]),
               max_size=3).map(b"".join)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(RAW, RAW, RAW, RAW, st.sampled_from([b"", b"git"])), min_size=1,
                max_size=30), st.sampled_from([0, 7]))
def test_rows_of_plain_events_of_any_bytes_are_those_read_entry_by_entry(
        events: list[tuple[bytes, bytes, bytes, bytes, bytes]], first: int) -> None:
    """Plain events (no escapes, no attributes) with values of any bytes a plain event holds,
    empty, long (cut to ``MAX_VALUE_BYTES``), holding ff or not UTF-8: the batch read at once
    (common/eventbatch.py) writes the posting lists and batch lists that reading each entry
    with :func:`raw_keyed` gives."""
    keys = LogKeys(b"L\x00\x00\x00\x01")
    index = LogIndex(_NoDB(), keys, ("k",), lambda: 5)  # type: ignore[arg-type]
    entries = [b'{"action":"%s","actor":"%s","attributes":{},"outcome":"ok","request_id":"%s",'
               b'"resource":"%s","source":"%s","time":"t","v":1}' % each for each in events]
    _assert_rows_are_read_entry_by_entry(index, keys, entries, first, True)


OPAQUE = st.one_of(st.binary(max_size=40), st.sampled_from(
    [b"", b"{", b"x\n{", b'\n{"action":"a"}', b'x{"v":1}', b"\n", b"[1]"]))


@settings(max_examples=80, deadline=None)
@given(st.lists(OPAQUE, min_size=1, max_size=30), st.sampled_from([None, 0, 29]))
def test_rows_of_opaque_entries_are_the_batch_time_only(entries: list[bytes],
                                                        event_at: int | None) -> None:
    """A batch of entries none of which starts with "{" (some holding "{" or newlines
    elsewhere) writes only the batch's time rows; with an event among them, that event's rows
    too, as reading each entry with :func:`raw_keyed` gives."""
    keys = LogKeys(b"L\x00\x00\x00\x01")
    index = LogIndex(_NoDB(), keys, (), lambda: 5)  # type: ignore[arg-type]
    opaque = [e for e in entries if e[:1] != b"{"] or [b"x"]
    if event_at is None:
        assert len(index.rows([(3 + i, e, b"") for i, e in enumerate(opaque)])) == 2
        return
    opaque.insert(min(event_at, len(opaque)), _event("alice", "act"))
    _assert_rows_are_read_entry_by_entry(index, keys, opaque, 3, False)


NULLABLE = st.one_of(st.just(b"null"), RAW.map(lambda v: b'"%s"' % v))
RECORDS = st.sampled_from([b"", b'"body":"x"', b'"a":{"b":[1,{}]}',  # a tail inside the record:
                           b'"s":{},"source":{"principal":"p","transport":"t"},"v":1'])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(NULLABLE, NULLABLE, NULLABLE, NULLABLE, RECORDS, NULLABLE, RAW),
                min_size=1, max_size=30),
       st.sampled_from([0, 7]))
def test_rows_of_ingested_records_of_any_bytes_are_those_read_entry_by_entry(
        records: list[tuple[bytes, ...]], first: int) -> None:
    """Ingested records (server/ingest/record.py) read at once over the batch
    (``ingested_columns``) write the posting lists and batch lists that reading each entry with
    :func:`raw_keyed` gives, whatever their values and records hold."""
    keys = LogKeys(b"L\x00\x00\x00\x01")
    index = LogIndex(_NoDB(), keys, (), lambda: 5)  # type: ignore[arg-type]
    entries = [b'{"fields":{"action":%s,"actor":%s,"outcome":%s,"resource":%s,"time":null},'
               b'"record":{%s},"source":{"principal":%s,"transport":"%s"},"v":1}' % each
               for each in records]
    _assert_rows_are_read_entry_by_entry(index, keys, entries, first, False)


@settings(max_examples=40, deadline=None)
@given(NULLABLE, NULLABLE, RAW, st.lists(NULLABLE, min_size=1, max_size=30))
def test_rows_of_ingested_records_sharing_a_value_are_those_read_entry_by_entry(
        actor: bytes, principal: bytes, transport: bytes, resources: list[bytes]) -> None:
    """A column with one value over the whole batch (the usual source and principal of an
    ingested batch, here also the actor; ``null`` or empty in every entry) is one list of every
    offset, as reading each entry gives."""
    keys = LogKeys(b"L\x00\x00\x00\x01")
    index = LogIndex(_NoDB(), keys, (), lambda: 5)  # type: ignore[arg-type]
    entries = [b'{"fields":{"action":null,"actor":%s,"outcome":null,"resource":%s,"time":null},'
               b'"record":{},"source":{"principal":%s,"transport":"%s"},"v":1}' % (
                   actor, resource, principal, transport) for resource in resources]
    _assert_rows_are_read_entry_by_entry(index, keys, entries, 0, False)


def _rid(request_id: str, actor: str = "alice") -> bytes:
    return AuditEvent(actor=actor, action="a", resource="r", request_id=request_id,
                      time=WHEN).encode()


def test_request_ids_are_one_list_per_batch_found_in_any_range_in_both_orders(log: Log) -> None:
    rng = random.Random(3)
    ids: list[str] = []
    for _ in range(10):
        batch = [rng.choice(("q1", "q2", "", "q1x")) for _ in range(rng.randint(1, 7))]
        log.append([_rid(q, actor=str(len(ids) + i)) for i, q in enumerate(batch)])
        ids.extend(batch)
    lists = list(log.db.scan(log.store.keys.search + b"q", log.store.keys.search + b"r"))
    assert len(lists) == 10  # one per batch (every batch here has an id)
    size = len(ids)
    for _ in range(200):
        begin = rng.randint(0, size)
        end = rng.randint(begin, size)
        wanted = rng.choice(("q1", "q2", "q1x", "q3"))
        want = [i for i in range(begin, end) if ids[i] == wanted]
        got = list(log.index.postings("request_id", wanted, begin, end, newest=False))
        assert [i for i in got if ids[i] == wanted] == want  # and no more than a probe
        assert list(log.index.postings("request_id", wanted, begin, end, newest=True)) \
            == got[::-1]
    assert all(log.index.filed("request_id", q, i) for i, q in enumerate(ids) if q)
    assert not log.index.filed("request_id", "q3", 0)
    assert log.index.density("request_id", "q1", size - 1) > size  # never the cheapest
    prefixed = log.index.prefix_postings("request_id", "q1", 0, size, False, 256)
    assert prefixed is not None
    assert [i for i in prefixed if ids[i].startswith("q1")] \
        == [i for i in range(size) if ids[i].startswith("q1")]
    assert log.index.prefix_postings("request_id", "", 0, size, True, 256) is None


def test_a_long_scan_for_a_rare_request_id_proposes_an_entry_every_few_lists(log: Log) -> None:
    for batch in range(3 * batchlists.IDLE_LISTS):
        log.append([_rid(f"b{batch}-{i}") for i in range(2)])
    size = log.store.size
    got = list(log.index.postings("request_id", "b0-1", 0, size, newest=True))
    # Each probe is the first entry of a batch without the id; the last result is the id.
    assert got[-1] == 1 and len(got) == 3
    assert all(i % 2 == 0 and i > 1 for i in got[:-1])
    assert got == sorted(got, reverse=True)
    oldest = list(log.index.postings("request_id", f"b{3 * batchlists.IDLE_LISTS - 1}-0", 0,
                                     size, newest=False))
    assert oldest[-1] == size - 2 and len(oldest) == 3 and oldest == sorted(oldest)


def test_request_ids_long_empty_or_not_utf8_keep_every_offset(log: Log) -> None:
    long = "y" * MAX_VALUE_BYTES
    not_utf8 = _rid("zz").replace(b'"zz"', b'"z\xffz"')
    record = (b'{"fields":{"action":"a","actor":"bob","outcome":null,"resource":null,'
              b'"time":null},"record":{},"source":{"principal":null,"transport":"otlp-grpc"},'
              b'"v":1}')
    log.append([_rid(long + "a"), _rid(""), not_utf8, _rid(long + "b"), _rid('q"1'), record,
                _rid("q2")])
    assert list(log.index.postings("request_id", long + "b", 0, 7, newest=False)) == [3]
    assert list(log.index.postings("request_id", long, 0, 7, newest=False)) == []  # not cut
    assert list(log.index.postings("request_id", 'q"1', 0, 7, newest=False)) == [4]
    assert list(log.index.postings("request_id", "q2", 0, 7, newest=False)) == [6]
    assert list(log.index.postings("request_id", "zz", 0, 7, newest=False)) == [2]
    log.append([_rid("q2", actor="carol"), _rid("q3")])  # the batch path, after the parser
    assert list(log.index.postings("request_id", "q2", 0, 9, newest=True)) == [7, 6]
    assert list(log.index.postings("request_id", "q3", 0, 9, newest=True)) == [8]


def test_actions_and_outcomes_are_batch_lists_found_exactly_or_by_prefix(log: Log) -> None:
    rng = random.Random(9)
    actions: list[str] = []
    outcomes: list[str] = []
    for _ in range(8):
        count = rng.randint(1, 9)
        batch = [(rng.choice(("repo.push", "repo.pull", "user.login", "repo")),
                  rng.choice(("success", "failure"))) for _ in range(count)]
        log.append([AuditEvent(actor=str(len(actions) + i), action=a, resource="r", outcome=o,
                               time=WHEN).encode() for i, (a, o) in enumerate(batch)])
        actions.extend(a for a, _ in batch)
        outcomes.extend(o for _, o in batch)
    size = len(actions)
    assert not list(log.db.scan(log.store.keys.search + b"c", log.store.keys.search + b"d"))
    for _ in range(100):
        begin = rng.randint(0, size)
        end = rng.randint(begin, size)
        for newest in (False, True):
            order = -1 if newest else 1
            got = log.index.postings("outcome", "failure", begin, end, newest)
            assert [i for i in got if outcomes[i] == "failure"] == \
                [i for i in range(begin, end) if outcomes[i] == "failure"][::order]
            got = log.index.postings("action", "repo", begin, end, newest)
            assert [i for i in got if actions[i] == "repo"] == \
                [i for i in range(begin, end) if actions[i] == "repo"][::order]
            prefixed = log.index.prefix_postings("action", "repo.", begin, end, newest, 256)
            assert prefixed is not None
            assert [i for i in prefixed if actions[i].startswith("repo.")] == \
                [i for i in range(begin, end) if actions[i].startswith("repo.")][::order]
    last = log.store.size - 1
    assert log.index.density("outcome", outcomes[last], last) >= 1
    assert all(log.index.filed("action", a, i) for i, a in enumerate(actions))
