"""AuditEvent: one canonical encoding, parse(encode(e)) == e, the same event hashes the same."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.client.event import MAX_INT, AuditEvent, event_from_json, parse_event
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.hashing import SHA256

WHEN = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def event(**changes: object) -> AuditEvent:
    fields: dict[str, object] = {
        "actor": "alice", "action": "repo.delete", "resource": "acme/web", "outcome": "success",
        "time": WHEN, "source": "git-server", "request_id": "req-42",
        "attributes": {"mfa": True, "ip": "10.0.0.7", "count": 3},
    }
    fields.update(changes)
    return AuditEvent(**fields)  # type: ignore[arg-type]


def test_encoding_is_pinned() -> None:
    assert event().encode() == (
        b'{"action":"repo.delete","actor":"alice","attributes":{"count":3,"ip":"10.0.0.7",'
        b'"mfa":true},"outcome":"success","request_id":"req-42","resource":"acme/web",'
        b'"source":"git-server","time":"2024-05-01T12:00:00.000000Z","v":1}'
    )


def test_same_event_same_hash_whatever_the_construction() -> None:
    a = event(attributes={"mfa": True, "ip": "10.0.0.7", "count": 3})
    b = event(attributes=[("count", 3), ("ip", "10.0.0.7"), ("mfa", True)])
    c = event(time=WHEN.astimezone(timezone(timedelta(hours=-7))))
    assert a == b == c
    assert a.encode() == b.encode() == c.encode()
    assert a.leaf_hash() == c.leaf_hash() == SHA256.hash_leaf(a.encode())
    assert hash(a) == hash(b)


def test_different_events_differ() -> None:
    assert event().encode() != event(outcome="failure").encode()
    assert event().encode() != event(time=WHEN + timedelta(microseconds=1)).encode()
    assert event(attributes={"n": 1}).encode() != event(attributes={"n": True}).encode()
    assert event(attributes={"n": 1}).encode() != event(attributes={"n": "1"}).encode()


def test_unicode_is_literal_utf8_and_controls_escaped() -> None:
    e = event(actor="zoë ☃", resource="a\nb\x00")
    data = e.encode()
    assert "zoë ☃".encode() in data
    assert b"a\\nb\\u0000" in data
    assert parse_event(data) == e


@pytest.mark.parametrize("bad", [
    {"actor": ""}, {"action": ""}, {"resource": ""}, {"outcome": ""},
    {"time": datetime(2024, 1, 1)},  # naive
    {"attributes": {"": "x"}}, {"attributes": {"a b": "x"}}, {"attributes": {"x" * 65: 1}},
    {"attributes": {"f": 1.5}}, {"attributes": {"n": None}}, {"attributes": {"l": [1]}},
    {"attributes": {"big": MAX_INT + 1}}, {"actor": "\ud800"}, {"source": 3},
])
def test_invalid_events_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        event(**bad)


@pytest.mark.parametrize("data", [
    b"",
    b"[]",
    b'{"actor":"a"}',
    # whitespace, key order, escapes and time precision that are not canonical:
    event().encode().replace(b'","', b'", "', 1),
    json.dumps(event().to_json()).encode(),
    event().encode().replace(b".000000Z", b"Z"),
    event().encode().replace(b"alice", b"\\u0061lice"),
    event().encode().replace(b'"v":1', b'"v":2'),
    event().encode().replace(b'"count":3', b'"count":3.0'),
    event().encode().replace(b"}", b',"extra":1}', 1),
])
def test_parse_refuses_anything_but_the_canonical_encoding(data: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_event(data)


def test_event_from_json_is_lenient_then_canonical() -> None:
    e = event_from_json({"actor": "alice", "action": "login", "resource": "sso",
                         "time": "2024-05-01T14:00:00+02:00"})
    assert e.time == WHEN and e.outcome == "success" and e.attributes == ()
    assert parse_event(e.encode()) == e
    with pytest.raises(MalformedError):
        event_from_json({"actor": "alice", "action": "login"})
    with pytest.raises(MalformedError):
        event_from_json({"actor": "a", "action": "b", "resource": "c", "colour": "red"})


text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
scalars = st.one_of(text, st.booleans(), st.integers(-MAX_INT, MAX_INT))
events = st.builds(
    AuditEvent,
    actor=text.filter(bool), action=text.filter(bool), resource=text.filter(bool),
    outcome=text.filter(bool),
    time=st.datetimes(timezones=st.just(UTC), min_value=datetime(1, 1, 2),
                      max_value=datetime(9999, 12, 30)),
    source=text, request_id=text,
    attributes=st.dictionaries(st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True), scalars,
                               max_size=5),
)


@given(events)
def test_parse_encode_round_trip(e: AuditEvent) -> None:
    data = e.encode()
    assert parse_event(data) == e
    assert parse_event(data).encode() == data
    assert AuditEvent(**{f: getattr(e, f) for f in e.__slots__}).leaf_hash() == e.leaf_hash()
