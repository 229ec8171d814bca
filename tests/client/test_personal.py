"""Personal fields of an AuditEvent kept as addenda: version 2 of the encoding, v1 unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from auditlog_tlog.client.event import AuditEvent, parse_event
from auditlog_tlog.client.personal import PersonalEvent, personal
from auditlog_tlog.tree.addenda import Addendum, committed, parse_addendum
from auditlog_tlog.tree.errors import MalformedError

WHEN = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def nonces() -> object:
    counter = iter(range(1, 100))
    return lambda n: bytes([next(counter)]) * n


def test_version_2_is_version_1_plus_the_addenda_member() -> None:
    event = AuditEvent("u-1842", "profile.update", "crm/contacts/77", time=WHEN,
                       attributes={"email": "alice@example.com", "plan": "pro"})
    sealed = personal(event, keys={"email"}, nonce=nonces())  # type: ignore[arg-type]
    digest = Addendum("email", "alice@example.com", b"\x01" * 16).digest().hex()
    assert sealed.encode() == (
        b'{"action":"profile.update","actor":"u-1842","addenda":{"email":"' + digest.encode()
        + b'"},"attributes":{"plan":"pro"},"outcome":"success","request_id":"",'
        b'"resource":"crm/contacts/77","source":"","time":"2024-05-01T12:00:00.000000Z","v":2}'
    )
    assert b"alice" not in sealed.encode()
    assert parse_event(sealed.encode()) == sealed.event
    assert committed(sealed.encode()) == {"email": bytes.fromhex(digest)}
    (data,) = sealed.encoded_addenda()
    assert parse_addendum(data, bytes.fromhex(digest)).value == "alice@example.com"
    assert sealed.value("email") == "alice@example.com"


def test_an_event_without_addenda_stays_version_1() -> None:
    event = AuditEvent("alice", "login", "sso", time=WHEN)
    sealed = personal(event, keys={"email"})
    assert sealed.encode() == event.encode() and b'"v":1' in event.encode()
    assert sealed.addenda == ()


def test_fields_given_on_their_own_and_fresh_nonces() -> None:
    event = AuditEvent("u-1", "login", "sso", time=WHEN)
    one = personal(event, {"name": "Alice Liddell", "age": 30})
    two = personal(event, {"name": "Alice Liddell", "age": 30})
    assert [a.field for a in one.addenda] == ["age", "name"]
    assert one.encode() != two.encode()  # 16 random bytes each: not guessable, not linkable
    with pytest.raises(ValueError, match="given twice"):
        personal(AuditEvent("u", "a", "r", attributes={"name": "x"}), {"name": "y"})


def test_a_mismatched_personal_event_is_refused() -> None:
    sealed = personal(AuditEvent("u", "a", "r", time=WHEN), {"email": "a@b"})
    other = Addendum("email", "c@d", b"\x00" * 16)
    with pytest.raises(ValueError, match="want the same"):
        PersonalEvent(sealed.event, (other,))


@pytest.mark.parametrize("data", [
    # version 2 without addenda, version 1 with them, an empty addenda member
    b'{"action":"a","actor":"u","addenda":{},"attributes":{},"outcome":"success",'
    b'"request_id":"","resource":"r","source":"","time":"2024-05-01T12:00:00.000000Z","v":2}',
    b'{"action":"a","actor":"u","addenda":{"e":"' + b"0" * 64 + b'"},"attributes":{},'
    b'"outcome":"success","request_id":"","resource":"r","source":"",'
    b'"time":"2024-05-01T12:00:00.000000Z","v":1}',
    b'{"action":"a","actor":"u","attributes":{},"outcome":"success","request_id":"",'
    b'"resource":"r","source":"","time":"2024-05-01T12:00:00.000000Z","v":2}',
    b'{"action":"a","actor":"u","addenda":{"e":"zz"},"attributes":{},"outcome":"success",'
    b'"request_id":"","resource":"r","source":"","time":"2024-05-01T12:00:00.000000Z","v":2}',
])
def test_versions_and_addenda_must_agree(data: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_event(data)


def test_a_field_is_an_attribute_or_an_addendum_not_both() -> None:
    with pytest.raises(ValueError, match="not both"):
        AuditEvent("u", "a", "r", attributes={"email": "x"}, addenda={"email": "0" * 64})
