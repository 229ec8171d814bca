"""Test vectors for the canonical ``AuditEvent`` encoding (docs/audit-event.md): events with
their exact bytes and RFC 6962 SHA-256 leaf hashes, and byte strings a parser must refuse.

``python -m tools.event_vectors`` rewrites docs/vectors/audit-event.json from the code;
tests/client/test_event_vectors.py checks the committed file against the code both ways.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from auditlog_tlog.client.event import AuditEvent, event_from_json
from auditlog_tlog.tree.hashing import SHA256

PATH: Final = Path(__file__).resolve().parents[1] / "docs" / "vectors" / "audit-event.json"
T0: Final = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

VALID: Final[list[tuple[str, dict[str, Any]]]] = [
    ("minimal: defaults for outcome, source, request_id, attributes",
     {"actor": "alice", "action": "repo.delete", "resource": "acme/web",
      "time": "2024-05-01T12:00:00.000000Z"}),
    ("every field; attributes of every type, keys sorted",
     {"v": 1, "actor": "svc:deployer", "action": "deploy", "resource": "payments/api",
      "outcome": "failure", "time": "2024-05-01T12:00:00.123456Z", "source": "ci",
      "request_id": "r-17", "attributes": {"retry": False, "attempt": 3, "ip": "10.0.0.7",
                                           "delta": -42}}),
    ("a time in another zone is converted to UTC; microseconds kept",
     {"actor": "bob", "action": "login", "resource": "sso",
      "time": "2024-05-01T14:30:00.5+02:00"}),
    ("non-ASCII is literal UTF-8 (not \\u escapes), also outside the BMP",
     {"actor": "zoë", "action": "réunion.créer", "resource": "日本/東京 😀",
      "time": "2024-05-01T12:00:00.000000Z"}),
    ("escapes: quote, backslash, \\n \\t, other controls as lowercase \\u00XX, DEL literal",
     {"actor": "mallory", "action": "write", "resource": "a\"b\\c\nd\te\u0001f\u001fg\u007fh",
      "time": "2024-05-01T12:00:00.000000Z"}),
    ("integers at the limits +-(2^53 - 1); attribute keys sorted by code point",
     {"actor": "x", "action": "y", "resource": "z", "time": "2024-05-01T12:00:00.000000Z",
      "attributes": {"b": 9007199254740991, "a": -9007199254740991, "B": "upper", "_": "",
                     "0": True, "a.b:c-d": "ok"}}),
    ("version 2: a personal field kept apart as an addendum, committed by digest "
     "(docs/erasure.md)",
     {"actor": "u-1842", "action": "profile.update", "resource": "crm/contacts/77",
      "time": "2024-05-01T12:00:00.000000Z", "attributes": {"plan": "pro"},
      "addenda": {"email": "5e73411bd477ac3b36854d22657ed628c8a2f0af515866bd974b29167c76dba9"}}),
]

# Bytes that are JSON for an event but not its canonical encoding, or not an event at all.
_GOOD: Final = ('{"action":"login","actor":"alice","attributes":{},"outcome":"success",'
                '"request_id":"","resource":"sso","source":"","time":"2024-05-01T12:00:00.000000Z",'
                '"v":1}')
INVALID: Final[list[tuple[str, str]]] = [
    ("whitespace between tokens", _GOOD.replace(',"actor"', ', "actor"')),
    ("keys not sorted", _GOOD.replace('{"action":"login","actor":"alice"',
                                      '{"actor":"alice","action":"login"')),
    ("a field missing (source)", _GOOD.replace('"source":"",', "")),
    ("an unknown field", _GOOD.replace('"v":1}', '"v":1,"x":1}')),
    ("version 2 without addenda", _GOOD.replace('"v":1}', '"v":2}')),
    ("version 1 with addenda", _GOOD.replace('"attributes"', '"addenda":{"e":"' + "0" * 64
                                             + '"},"attributes"')),
    ("an addendum digest in uppercase hex", _GOOD.replace(
        '"attributes"', '"addenda":{"e":"' + "A" * 64 + '"},"attributes"').replace('"v":1}',
                                                                               '"v":2}')),
    ("time without microseconds", _GOOD.replace("12:00:00.000000Z", "12:00:00Z")),
    ("time with an offset instead of Z", _GOOD.replace("12:00:00.000000Z",
                                                       "12:00:00.000000+00:00")),
    ("an empty actor", _GOOD.replace('"actor":"alice"', '"actor":""')),
    ("a float attribute", _GOOD.replace('"attributes":{}', '"attributes":{"n":1.5}')),
    ("a null attribute", _GOOD.replace('"attributes":{}', '"attributes":{"n":null}')),
    ("a nested attribute", _GOOD.replace('"attributes":{}', '"attributes":{"n":{}}')),
    ("an integer beyond 2^53 - 1", _GOOD.replace('"attributes":{}',
                                                 '"attributes":{"n":9007199254740992}')),
    ("an attribute key with a space", _GOOD.replace('"attributes":{}', '"attributes":{"a b":1}')),
    ("non-ASCII escaped as \\u00e9", _GOOD.replace('"alice"', '"\\u00e9"')),
    ("a control character escaped in uppercase hex", _GOOD.replace('"alice"', '"a\\u001Fb"')),
    ("a trailing newline", _GOOD + "\n"),
]


def vectors() -> dict[str, Any]:
    valid = []
    for name, obj in VALID:
        event = event_from_json(obj)
        encoded = event.encode()
        valid.append({"name": name, "input": obj, "encoded": encoded.decode(),
                      "leaf_hash_sha256": SHA256.hash_leaf(encoded).hex()})
    return {
        "about": "Canonical AuditEvent encoding (docs/audit-event.md). 'valid': 'input' is a JSON "
                 "event as a producer may give it; 'encoded' is the exact entry (UTF-8); "
                 "'leaf_hash_sha256' is SHA-256(0x00 || entry). 'invalid': entries a strict "
                 "parser must refuse.",
        "valid": valid,
        "invalid": [{"name": name, "encoded": text} for name, text in INVALID],
    }


def render() -> str:
    return json.dumps(vectors(), indent=2, ensure_ascii=False) + "\n"


def example() -> AuditEvent:
    """The example event of docs/audit-event.md."""
    return AuditEvent("alice", "repo.delete", "acme/web", time=T0, source="git-server",
                      request_id="req-42", attributes={"ip": "10.0.0.7", "mfa": True})


if __name__ == "__main__":
    PATH.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {PATH}\n")
