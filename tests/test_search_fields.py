"""common/searchfields.py: the fast path of the index writer reads what the parser reads."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.client.event import AuditEvent
from auditlog_tlog.common.searchfields import (
    entry_fields,
    event_columns,
    group_events,
    ingested_columns,
    raw_keyed,
    rfc3339_ns,
)
from auditlog_tlog.server.ingest.record import IngestRecord, SearchFields, encode_entry
from tests.batches import mangled_events

TEXT = st.text(min_size=1, max_size=12)
MAYBE = st.one_of(st.none(), st.text(max_size=12))


def _same(entry: bytes, attributes: bool = False) -> None:
    fields = entry_fields(entry, ("k",) if attributes else ())
    raw = raw_keyed(entry, attributes)
    if raw is not None:  # the fast path took it: it must agree with the parser
        assert fields is not None
        assert sorted((n, v.decode()) for n, v in raw) == sorted(fields.keyed())


@given(TEXT, TEXT, TEXT, TEXT, st.text(max_size=8), st.text(max_size=8),
       st.dictionaries(st.sampled_from(["k", "z"]), st.text(max_size=5), max_size=2))
def test_events(actor: str, action: str, resource: str, outcome: str, source: str,
                request_id: str, attributes: dict[str, str]) -> None:
    event = AuditEvent(actor=actor, action=action, resource=resource, outcome=outcome,
                       source=source, request_id=request_id, attributes=attributes,
                       time=datetime(2026, 11, 1, tzinfo=UTC))
    _same(event.encode())
    _same(event.encode(), attributes=True)
    _grouped([event.encode(), b"opaque", event.encode()], attributes=bool(attributes))
    _columns([event.encode(), event.encode()], attributes=True)
    _columns([event.encode()] * 3, attributes=False)
    _columns([event.encode(), b"opaque"], attributes=False)


def test_the_batch_fast_path_is_all_or_nothing() -> None:
    one = AuditEvent(actor="alice", action="a", resource="r", request_id="q1").encode()
    two = AuditEvent(actor="bob", action="b", resource="r", request_id="q2").encode()
    want = [("action", [b"a", b"b"]), ("actor", [b"alice", b"bob"]),
            ("outcome", [b"success", b"success"]), ("request_id", [b"q1", b"q2"]),
            ("resource", [b"r", b"r"]), ("source", [b"", b""])]
    columns = event_columns([one, two], False)
    assert columns is not None and [(c.name, c.values()) for c in columns] == want
    with_attrs = AuditEvent(actor="c", action="a", resource="r", attributes={"k": "v"}).encode()
    columns = event_columns([one, two, with_attrs], False)  # the regular expression's path
    assert columns is not None and [(c.name, c.values()[:2]) for c in columns] == want
    # The same number of quotes in another order is not an event.
    swapped = one.replace(b'"action":"a","actor":"alice"', b'"actor":"alice","action":"a"')
    assert event_columns([one, swapped], False) is None
    assert event_columns([one, b"opaque", two], False) is None
    assert event_columns([b'{"fields":{}}', one], False) is None  # not an event first
    # One line holding two events, beside an entry that is not one: still not a batch of events.
    assert event_columns([one + b"\n" + two, b"x"], False) is None
    assert event_columns([one.replace(b"alice", b"al\nice")], False) is None  # raw newline
    assert event_columns([one.replace(b"alice", b"al\x01ice")], False) is None  # not JSON
    assert event_columns([one, with_attrs], True) is None  # attributes to read: the parser
    assert event_columns([one, with_attrs], False) is not None


@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(b'",:{}\n\x00\\a')),
                min_size=1, max_size=3),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 12)), max_size=2))
def test_a_batch_changed_anywhere_is_read_as_the_parser_reads_it_or_not_at_all(
        changes: list[tuple[int, int]], cuts: list[tuple[int, int]]) -> None:
    """Bytes of the skeleton (quotes, commas, colons, braces, newlines) replaced or cut out
    anywhere in a batch of plain events: the batch path reads every entry as the parser does,
    or leaves the batch to it."""
    entries = mangled_events(changes, cuts)
    _columns(entries, attributes=False)
    columns = event_columns(entries, False)
    if columns is not None:
        for i, entry in enumerate(entries):
            fields = entry_fields(entry)
            assert fields is not None
            assert sorted((c.name, c.values()[i].decode()) for c in columns
                          if c.values()[i]) == sorted(fields.keyed())


def _columns(entries: list[bytes], attributes: bool) -> None:
    """The whole-batch fast path reads what :func:`raw_keyed` reads, entry by entry, or (when
    any entry needs more) nothing."""
    columns = event_columns(entries, attributes)
    raws = [raw_keyed(e, attributes) if e.startswith(b'{"action"') else None for e in entries]
    if columns is None:
        assert None in raws
        return
    assert None not in raws
    values = [(column.name, column.values()) for column in columns]
    for column in columns:  # the values in one bytes, as the request-id list writes them
        assert column.joined(b"\xff") == b"".join(b"\xff" + value for value in column.values())
    got = [sorted((name, column[i]) for name, column in values if column[i])
           for i in range(len(entries))]
    assert got == [sorted(raw or ()) for raw in raws]


def _grouped(entries: list[bytes], attributes: bool) -> None:
    """The batch fast path groups what :func:`raw_keyed` reads, entry by entry, and leaves
    every other entry to it."""
    columns, rest = group_events([(7 + i, e, b"") for i, e in enumerate(entries)], 7, attributes)
    got = sorted((name, value, offset) for name, column in columns
                 for value, offsets in column.items() for offset in offsets)
    want: list[tuple[str, bytes, int]] = []
    for offset, entry in enumerate(entries):
        raw = raw_keyed(entry, attributes) if entry.startswith(b'{"action"') else None
        if raw is None:
            assert (offset, entry) in rest
        else:
            want.extend((name, value, offset) for name, value in raw)
    assert got == sorted(want)


@given(MAYBE, MAYBE, MAYBE, MAYBE, MAYBE, st.text(min_size=1, max_size=8),
       st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3))
def test_ingested(actor: str | None, action: str | None, resource: str | None,
                  outcome: str | None, principal: str | None, transport: str,
                  record: dict[str, str]) -> None:
    rec = IngestRecord(transport, principal, SearchFields(actor, action, resource, outcome),
                       record)
    _same(encode_entry(rec))


def test_the_fast_path_takes_plain_entries_and_leaves_escapes_to_the_parser() -> None:
    plain = AuditEvent(actor="alice", action="a", resource="r", source="",
                       time=datetime(2026, 11, 1, tzinfo=UTC)).encode()
    assert raw_keyed(plain, False) == [("action", b"a"), ("actor", b"alice"),
                                       ("outcome", b"success"), ("resource", b"r")]
    quoted = AuditEvent(actor='al"ice', action="a", resource="r").encode()
    assert raw_keyed(quoted, False) is None
    assert entry_fields(quoted) is not None and entry_fields(quoted).actor == 'al"ice'  # type: ignore[union-attr]
    assert raw_keyed(b"opaque", False) is None and entry_fields(b"[1]") is None


def test_rfc3339_ns() -> None:
    assert rfc3339_ns(0) == "1970-01-01T00:00:00Z"
    assert rfc3339_ns(1_790_000_000_123_000_000) == "2026-09-21T14:13:20.123Z"
    assert rfc3339_ns(1) == "1970-01-01T00:00:00.000000001Z"


def test_the_batch_path_of_ingested_records_is_all_or_nothing() -> None:
    one = encode_entry(IngestRecord("otlp-grpc", "svc", SearchFields(actor="alice", action="a"),
                                    {"body": "x", "nested": {"source": {"principal": "p"}}}))
    two = encode_entry(IngestRecord("relp", None, SearchFields(resource="r", outcome="ok"), {}))
    columns = ingested_columns([one, two], False)
    assert columns is not None
    assert [(c.name, c.values()) for c in columns] == [
        ("action", [b"a", b""]), ("actor", [b"alice", b""]), ("outcome", [b"", b"ok"]),
        ("resource", [b"", b"r"]), ("principal", [b"svc", b""]), ("source", [b"otlp-grpc", b"relp"])]
    event = AuditEvent(actor="alice", action="a", resource="r").encode()
    assert ingested_columns([one, event], False) is None  # not all records
    assert ingested_columns([event, one], False) is None  # not a record first
    assert ingested_columns([one, two], True) is None  # attributes to read: the parser
    assert ingested_columns([one + b"\n" + two, b"x"], False) is None
    escaped = encode_entry(IngestRecord("relp", None, SearchFields(actor='a"b'), {}))
    assert raw_keyed(escaped, False) is None and ingested_columns([one, escaped], False) is None
