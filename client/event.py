"""``AuditEvent``: a structured audit entry with exactly one byte encoding.

The log stores opaque bytes and hashes them (RFC 6962 leaf hash ``H(0x00 || entry)``), so two
encodings of the same event would be two different entries with two different hashes. An
``AuditEvent`` therefore has exactly one encoding, canonical JSON, and ``parse_event`` accepts
nothing else::

    {"action":"repo.delete","actor":"alice","attributes":{"ip":"10.0.0.7","mfa":true},
     "outcome":"success","request_id":"req-42","resource":"acme/web","source":"git-server",
     "time":"2024-05-01T12:00:00.000000Z","v":1}

(one line; wrapped here). The rules:

* UTF-8, no whitespace between tokens, object keys sorted. Every field is always present
  (``source`` and ``request_id`` may be ``""``, ``attributes`` may be ``{}``); ``"v":1`` names
  this encoding.
* Strings are escaped as Python's ``json`` does with ``ensure_ascii=False``: ``\\"``, ``\\\\``,
  ``\\b \\f \\n \\r \\t``, other control characters as ``\\u00XX`` (lowercase hex); everything else
  is literal UTF-8. Strings are not Unicode-normalised: the same event means the same code points.
* ``time`` is RFC 3339 in UTC with exactly six fractional digits and ``Z``. A time given in
  another zone is converted to UTC; a naive ``datetime`` is refused.
* ``attributes`` maps keys of 1 to 64 characters from ``[A-Za-z0-9_.:-]`` (so byte order and
  code point order agree) to scalars: strings, booleans, or integers in +-(2^53 - 1) (exact in
  every JSON implementation). Floats, nulls and nesting are refused: put them in a string.
* ``actor``, ``action``, ``resource`` and ``outcome`` are non-empty; an encoded event is at most
  ``MAX_EVENT_BYTES``.

Version 2 (docs/erasure.md) is version 1 plus one member, for an event with personal fields
kept apart as addenda (c2sp.org/tlog-addenda, ``tree.addenda``): ``"addenda"`` maps each
personal field's name to the lowercase hex SHA-256 of its addendum, and ``"v":2``. An event
without addenda is always version 1, byte for byte as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from auditlog_tlog.tree import addenda as tlog_addenda
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.hashing import SHA256, Hasher

VERSION: Final = 1
VERSION_ADDENDA: Final = 2
MAX_EVENT_BYTES: Final = 64 * 1024
MAX_INT: Final = (1 << 53) - 1
_KEY: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_FIELDS: Final = frozenset(
    ("v", "actor", "action", "resource", "outcome", "time", "source", "request_id", "attributes")
)
_FIELDS_V2: Final = _FIELDS | {"addenda"}

AttributeValue = str | int | bool


def _check_text(name: str, value: object, *, required: bool) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{name}: got {type(value).__name__}, want str")
    if required and not value:
        raise ValueError(f"{name}: got an empty string, want a non-empty one")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError(f"{name}: got a lone surrogate, want valid Unicode") from None


def _check_attribute(key: object, value: object) -> None:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"attribute key: got {key!r:.80}, want 1..64 of [A-Za-z0-9_.:-]")
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -MAX_INT <= value <= MAX_INT:
            raise ValueError(f"attribute {key}: got {value}, want an integer within +-(2^53 - 1)")
        return
    if isinstance(value, str):
        _check_text(f"attribute {key}", value, required=False)
        return
    raise ValueError(
        f"attribute {key}: got {type(value).__name__}, want str, int or bool (encode others as str)"
    )


def format_time(when: datetime) -> str:
    """RFC 3339 in UTC with six fractional digits: ``2024-05-01T12:00:00.000000Z``."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"time: got naive {when.isoformat()}, want a timezone-aware datetime")
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    if not _TIME.fullmatch(text):
        raise MalformedError(f"time: got {text[:40]!r}, want YYYY-MM-DDTHH:MM:SS.ffffffZ")
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise MalformedError(f"time: got {text!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Who (``actor``) did what (``action``) to which ``resource``, with what ``outcome``, when.

    ``attributes`` accepts a mapping and is kept as key-sorted pairs, so events are hashable
    and compare equal exactly when they encode to the same bytes. ``time`` defaults to now and
    is kept in UTC at microsecond precision.
    """

    actor: str
    action: str
    resource: str
    outcome: str = "success"
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    source: str = ""
    request_id: str = ""
    attributes: tuple[tuple[str, AttributeValue], ...] | Mapping[str, AttributeValue] = ()
    addenda: tuple[tuple[str, str], ...] | Mapping[str, str] = ()
    """Personal field name -> hex digest of its addendum (client.personal makes them)."""

    def __post_init__(self) -> None:
        for name in ("actor", "action", "resource", "outcome"):
            _check_text(name, getattr(self, name), required=True)
        for name in ("source", "request_id"):
            _check_text(name, getattr(self, name), required=False)
        if not isinstance(self.time, datetime):
            raise ValueError(f"time: got {type(self.time).__name__}, want datetime")
        format_time(self.time)  # refuses a naive datetime
        object.__setattr__(self, "time", self.time.astimezone(UTC))
        pairs: Iterable[tuple[Any, Any]]
        pairs = self.attributes.items() if isinstance(self.attributes, Mapping) else self.attributes
        items = [tuple(p) for p in pairs]
        if any(len(p) != 2 for p in items):
            raise ValueError("attributes: want a mapping or (key, value) pairs")
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise ValueError("attributes: got a key twice, want each key once")
        for key, value in items:
            _check_attribute(key, value)
        object.__setattr__(self, "attributes", tuple(sorted(items)))
        digests = self.addenda.items() if isinstance(self.addenda, Mapping) else self.addenda
        committed = sorted(tuple(p) for p in digests)
        names = [name for name, _ in committed]
        if len(set(names)) != len(names) or len(names) > tlog_addenda.MAX_ADDENDA:
            raise ValueError(f"addenda: got {len(names)} digests with names {names[:8]}, want "
                             f"each name once and at most {tlog_addenda.MAX_ADDENDA}")
        if both := set(names) & set(keys):
            raise ValueError(f"addenda: {sorted(both)} are attributes too, want each field in "
                             "the entry or in an addendum, not both")
        for name, text in committed:
            if not isinstance(name, str) or not tlog_addenda.FIELD.fullmatch(name):
                raise ValueError(f"addendum name: got {name!r:.80}, want 1..64 of [A-Za-z0-9_.:-]")
            try:
                tlog_addenda.parse_digest(text)
            except MalformedError as exc:
                raise ValueError(f"addendum {name}: {exc}") from None
        object.__setattr__(self, "addenda", tuple(committed))

    @property
    def attrs(self) -> dict[str, AttributeValue]:
        """The attributes as a new dict."""
        return dict(self.attributes)

    def to_json(self) -> dict[str, Any]:
        """The JSON object that ``encode`` writes (a new dict)."""
        obj: dict[str, Any] = {
            "v": VERSION_ADDENDA if self.addenda else VERSION,
            "actor": self.actor,
            "action": self.action,
            "resource": self.resource,
            "outcome": self.outcome,
            "time": format_time(self.time),
            "source": self.source,
            "request_id": self.request_id,
            "attributes": self.attrs,
        }
        if self.addenda:
            obj["addenda"] = dict(self.addenda)
        return obj

    def encode(self) -> bytes:
        """The one canonical encoding (see the module docstring); this is the log entry."""
        data = _canonical(self.to_json())
        if len(data) > MAX_EVENT_BYTES:
            raise ValueError(f"event: got {len(data)} bytes encoded, want at most {MAX_EVENT_BYTES}")
        return data

    def leaf_hash(self, hasher: Hasher = SHA256) -> bytes:
        """The RFC 6962 leaf hash of the encoded event."""
        return hasher.hash_leaf(self.encode())


def _canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_from_json(obj: object) -> AuditEvent:
    """Build an event from a decoded JSON object (lenient: ``v`` and optional fields may be
    missing, ``time`` may be any RFC 3339 time); raises ``MalformedError``."""
    if not isinstance(obj, dict):
        raise MalformedError(f"event: got JSON {type(obj).__name__}, want an object")
    if unknown := set(obj) - _FIELDS_V2:
        raise MalformedError(f"event: unknown fields {sorted(unknown)}, want some of {sorted(_FIELDS_V2)}")
    version = obj.get("v", VERSION_ADDENDA if "addenda" in obj else VERSION)
    if version not in (VERSION, VERSION_ADDENDA) or (version == VERSION_ADDENDA) != ("addenda" in obj):
        raise MalformedError(f"event: got version {obj.get('v')!r}, want {VERSION}, or "
                             f"{VERSION_ADDENDA} exactly when the event has addenda")
    digests = obj.get("addenda", {})
    if not isinstance(digests, dict) or ("addenda" in obj and not digests):
        raise MalformedError("event: addenda must be a non-empty JSON object")
    missing = [k for k in ("actor", "action", "resource") if k not in obj]
    if missing:
        raise MalformedError(f"event: missing fields {missing}")
    attributes = obj.get("attributes", {})
    if not isinstance(attributes, dict):
        raise MalformedError("event: attributes must be a JSON object")
    when: Any = obj.get("time")
    try:
        if when is None:
            when = datetime.now(UTC)
        elif isinstance(when, str):
            when = datetime.fromisoformat(when.replace("Z", "+00:00").replace("z", "+00:00"))
        return AuditEvent(
            actor=obj["actor"], action=obj["action"], resource=obj["resource"],
            outcome=obj.get("outcome", "success"), time=when, source=obj.get("source", ""),
            request_id=obj.get("request_id", ""), attributes=attributes, addenda=digests,
        )
    except (ValueError, TypeError) as exc:
        raise MalformedError(f"event: {exc}") from None


def parse_event(data: bytes) -> AuditEvent:
    """Parse an encoded event; anything but the canonical encoding is ``MalformedError``."""
    if len(data) > MAX_EVENT_BYTES:
        raise MalformedError(f"event: got {len(data)} bytes, want at most {MAX_EVENT_BYTES}")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedError(f"event: not UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict) or set(obj) not in (_FIELDS, _FIELDS_V2):
        raise MalformedError(f"event: want a JSON object with exactly the fields {sorted(_FIELDS)}"
                             ' (and "addenda" in version 2)')
    if not isinstance(obj["time"], str):
        raise MalformedError("event: time must be a string")
    parse_time(obj["time"])
    event = event_from_json(obj)
    if event.encode() != data:
        raise MalformedError("event: valid JSON but not the canonical encoding (see client.event)")
    return event
