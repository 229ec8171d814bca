"""docs/erasure.md's example addendum and version 2 event are what the code gives."""

from __future__ import annotations

from pathlib import Path

from auditlog_tlog.client.event import event_from_json
from auditlog_tlog.tree.addenda import Addendum
from auditlog_tlog.tree.hashing import SHA256

DOC = Path(__file__).resolve().parents[2] / "docs" / "erasure.md"


def test_the_documented_examples_are_the_encodings() -> None:
    text = DOC.read_text(encoding="utf-8")
    addendum = Addendum("email", "alice@example.com", bytes(range(16)))
    assert addendum.encode().decode() in text and f"({len(addendum.encode())} bytes" in text
    assert addendum.digest().hex() in text
    event = event_from_json({"actor": "u-1842", "action": "profile.update",
                             "resource": "crm/contacts/77", "time": "2024-05-01T12:00:00.000000Z",
                             "attributes": {"plan": "pro"},
                             "addenda": {"email": addendum.digest().hex()}})
    assert event.encode().decode() in text
    assert SHA256.hash_leaf(event.encode()).hex() in text
