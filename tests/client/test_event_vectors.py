"""docs/vectors/audit-event.json, the test vectors of docs/audit-event.md: the committed file is
what tools/event_vectors.py gives, every valid vector encodes and parses to exactly its bytes and
leaf hash, and every invalid one is refused by ``parse_event``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from auditlog_tlog.client.event import event_from_json, parse_event
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.hashing import SHA256
from tools import event_vectors

COMMITTED: dict[str, Any] = json.loads(event_vectors.PATH.read_text(encoding="utf-8"))


def test_the_committed_vectors_are_up_to_date() -> None:
    assert event_vectors.PATH.read_text(encoding="utf-8") == event_vectors.render(), (
        "docs/vectors/audit-event.json is out of date: run '.venv/bin/python -m tools.event_vectors'")


@pytest.mark.parametrize("vector", COMMITTED["valid"], ids=lambda v: v["name"][:40])
def test_valid_vector(vector: dict[str, Any]) -> None:
    encoded = vector["encoded"].encode()
    assert event_from_json(vector["input"]).encode() == encoded
    assert parse_event(encoded).encode() == encoded
    assert SHA256.hash_leaf(encoded).hex() == vector["leaf_hash_sha256"]


@pytest.mark.parametrize("vector", COMMITTED["invalid"], ids=lambda v: v["name"][:40])
def test_invalid_vector_is_refused(vector: dict[str, Any]) -> None:
    with pytest.raises(MalformedError):
        parse_event(vector["encoded"].encode())


def test_the_vectors_cover_the_rules() -> None:
    assert len(COMMITTED["valid"]) >= 6 and len(COMMITTED["invalid"]) >= 15
    texts = "".join(v["encoded"] for v in COMMITTED["valid"])
    assert "ë" in texts and "😀" in texts and "\\u0001" in texts and "\\u001f" in texts


def test_the_documented_example_is_the_encoding() -> None:
    doc = (event_vectors.PATH.parents[1] / "audit-event.md").read_text(encoding="utf-8")
    encoded = event_vectors.example().encode()
    assert encoded.decode() in doc
    assert SHA256.hash_leaf(encoded).hex() in doc
