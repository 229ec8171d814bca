"""What search reads out of one entry: the fields the index files it under (docs/search.md).

Two kinds of entry carry search fields, and this is the one reader of both, used by the server
to index each entry as it is written and by ``auditlog audit`` to rebuild the index from the
entries and compare (a batch of plain events is read at once by common/eventbatch.py, which
gives what :func:`raw_keyed` gives each entry):

* an ``AuditEvent`` (client/event.py, docs/audit-event.md): canonical JSON with ``"v":1`` and
  ``actor``, ``action``, ``resource``, ``outcome``, ``time``, ``source``, ``request_id`` and
  ``attributes`` at the top level;
* an ingested record (server/ingest/record.py, docs/ingestion.md, "The entry"): ``"v":1`` with
  ``fields`` (who, action, resource, outcome, time, as each source's mapping set them),
  ``source`` (``transport`` and the authenticated ``principal``) and the producer's ``record``.

Anything else (opaque bytes, other JSON) has no fields: the index knows only when the log
sequenced it. Configured attribute keys are read from an event's ``attributes``, and from an
ingested record as a dotted path into it (Kubernetes ``user.username``, ``verb``) or as an
OTLP attribute key of the log record or its resource (``service.name``). Only non-empty
strings, integers and booleans are fields (booleans as ``true``/``false``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

NAMES: Final = ("actor", "action", "resource", "outcome", "source", "principal", "request_id")
"""The fixed fields an entry is indexed under (beside configured attributes and times)."""
_MAX_JSON: Final = 1 << 20  # larger entries are not parsed for fields (the log caps entries)


@dataclass(frozen=True, slots=True)
class EntryFields:
    """The search fields of one entry; ``None`` where the entry does not say."""

    actor: str | None = None
    action: str | None = None
    resource: str | None = None
    outcome: str | None = None
    time: str | None = None
    source: str | None = None
    principal: str | None = None
    request_id: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        """The value of a fixed field (one of ``NAMES`` or ``time``) or of ``attr.<key>``."""
        if name.startswith("attr."):
            return dict(self.attributes).get(name[5:])
        if name not in NAMES and name != "time":
            raise ValueError(f"field {name!r}: want one of {(*NAMES, 'time')} or attr.<key>")
        value: str | None = getattr(self, name)
        return value

    def keyed(self) -> list[tuple[str, str]]:
        """(field, value) for every field the index files the entry under."""
        pairs = [(name, value) for name in NAMES if (value := getattr(self, name)) is not None]
        pairs.extend((f"attr.{key}", value) for key, value in self.attributes)
        return pairs


# The fast path: an entry in exactly the canonical form, no string holding an escape (so its
# bytes between the quotes are the value's UTF-8; JSON escapes every quote, backslash and
# control character, so none of them stands in a value's bytes). A match gives what the JSON
# parser would; anything else is parsed.
_S: Final = rb'"([^"\\\x00-\x1f]*)"'
_NS: Final = rb'(?:null|"([^"\\\x00-\x1f]*)")'
_EVENT: Final = re.compile(
    rb'\{"action":' + _S + rb',"actor":' + _S + rb',"attributes":\{([^}]*)\},"outcome":' + _S
    + rb',"request_id":' + _S + rb',"resource":' + _S + rb',"source":' + _S + rb',"time":' + _S
    + rb',"v":1\}')
_EVENT_FIELDS: Final = ("action", "actor", None, "outcome", "request_id", "resource", "source")
# The same pattern over a whole batch joined by newlines, one event a line (see event_columns).
_EVENT_LINES: Final = re.compile(rb"^" + _EVENT.pattern + rb"$", re.MULTILINE)
_INGEST_HEAD: Final = re.compile(
    rb'\{"fields":\{"action":' + _NS + rb',"actor":' + _NS + rb',"outcome":' + _NS
    + rb',"resource":' + _NS + rb',"time":' + _NS + rb'\},"record":\{')
_INGEST_TAIL: Final = re.compile(
    rb'\},"source":\{"principal":' + _NS + rb',"transport":' + _S + rb'\},"v":1\}\Z')
_INGEST_FIELDS: Final = ("action", "actor", "outcome", "resource")


def raw_keyed(entry: bytes, attributes: bool) -> list[tuple[str, bytes]] | None:
    """What :meth:`EntryFields.keyed` gives for ``entry``, values as UTF-8, straight from the
    bytes of a canonical entry without escapes; ``None`` when the entry needs the parser (or
    when ``attributes`` are configured and the entry may hold some)."""
    if entry.startswith(b'{"action"'):
        m = _EVENT.fullmatch(entry)
        if m is None or (attributes and m.group(3)):
            return None
        return [(name, value) for name, value in zip(_EVENT_FIELDS, m.groups(), strict=False)
                if name is not None and value]
    if entry.startswith(b'{"fields"') and not attributes:
        head = _INGEST_HEAD.match(entry)
        tail = _INGEST_TAIL.search(entry, head.end()) if head is not None else None
        if head is None or tail is None:
            return None
        pairs = [(name, value) for name, value in zip(_INGEST_FIELDS, head.groups(),
                                                      strict=False) if value]
        pairs.extend((name, value) for name, value in (("source", tail.group(2)),
                                                       ("principal", tail.group(1))) if value)
        return pairs
    return None


@dataclass(frozen=True, slots=True)
class Column:
    """One field over a batch: item ``i`` is entry ``i``'s value; an empty value is no value."""

    name: str
    items: Sequence[bytes]

    def values(self) -> list[bytes]:
        """The values, in entry order."""
        return list(self.items)

    def joined(self, sep: bytes) -> bytes:
        """``sep`` before each value, all in one bytes (no Python operation per entry)."""
        return sep + sep.join(self.items)


def event_columns(entries: Sequence[bytes], attributes: bool) -> list[Column] | None:
    """The batch path of events with attributes (those without have a cheaper one,
    common/eventbatch.py): when every one of ``entries`` is a canonical event that
    :func:`raw_keyed` reads (without attributes, if ``attributes`` are configured), one
    :class:`Column` per field; else ``None``.

    One pass over the whole batch joined by newlines, instead of one per entry: no Python
    operation per entry. It is all or nothing: when no entry holds a newline (a canonical event
    never does: JSON escapes control characters), the joined batch has exactly
    ``len(entries)`` lines, and every check below is on the whole batch or a whole column.
    """
    if not entries or not entries[0].startswith(b'{"action":'):
        return None  # both readers below need an event first: skip joining a batch of others
    count = len(entries)
    joined = b"\n".join(entries)
    if joined.count(b"\n") != count - 1:
        return None
    found = _EVENT_LINES.findall(joined)
    if len(found) != count:
        return None
    columns = list(zip(*found, strict=True))
    if attributes and any(columns[2]):
        return None
    return [Column(name, column) for name, column in zip(_EVENT_FIELDS, columns, strict=False)
            if name is not None]


# An ingested entry a line: its head, anything (its record: no newline, as JSON never holds one
# raw), its tail at the line's end, as raw_keyed reads it anchored at the entry's end.
_INGEST_LINES: Final = re.compile(
    rb"^" + _INGEST_HEAD.pattern + rb".*" + _INGEST_TAIL.pattern.removesuffix(rb"\Z") + rb"$",
    re.MULTILINE)
_INGEST_COLUMNS: Final = (*_INGEST_FIELDS, None, "principal", "source")


def ingested_columns(entries: Sequence[bytes], attributes: bool) -> list[Column] | None:
    """:func:`event_columns` for a batch of ingested records (server/ingest/record.py): when
    every one of ``entries`` is one that :func:`raw_keyed` reads and no ``attributes`` are
    configured, one :class:`Column` per field; else ``None``. One pass over the batch joined by
    newlines, all or nothing, as there."""
    if attributes or not entries or not entries[0].startswith(b'{"fields":'):
        return None
    count = len(entries)
    joined = b"\n".join(entries)
    if joined.count(b"\n") != count - 1:
        return None
    found = _INGEST_LINES.findall(joined)
    if len(found) != count:
        return None
    columns = zip(*found, strict=True)
    return [Column(name, column) for name, column in zip(_INGEST_COLUMNS, columns, strict=True)
            if name is not None]


Grouped = dict[bytes, list[int]]


def group_events(entries: Sequence[tuple[int, bytes, bytes]], first: int, attributes: bool
                 ) -> tuple[list[tuple[str, Grouped]], list[tuple[int, bytes]]]:
    """:func:`raw_keyed` over a batch of (index, entry, leaf hash), for canonical events only,
    grouped: per field, each value's offsets (index - ``first``, ascending). Also the (offset,
    entry) pairs left to :func:`raw_keyed` and the parser. The fewest Python operations per
    entry: one regular expression and one dictionary append per field."""
    names = ("action", "actor", "outcome", "request_id", "resource", "source")
    columns: tuple[Grouped, ...] = tuple(defaultdict(list) for _ in names)
    action, actor, outcome, request_id, resource, source = columns
    rest: list[tuple[int, bytes]] = []
    fullmatch = _EVENT.fullmatch
    for index, entry, _ in entries:
        m = fullmatch(entry)
        if m is None:
            rest.append((index - first, entry))
            continue
        a, b, attrs, c, d, e, f, _t = m.groups()
        if attributes and attrs:
            rest.append((index - first, entry))
            continue
        offset = index - first
        action[a].append(offset)
        actor[b].append(offset)
        outcome[c].append(offset)
        request_id[d].append(offset)
        resource[e].append(offset)
        source[f].append(offset)
    for column in columns:
        column.pop(b"", None)  # an empty string is not a value
    return list(zip(names, columns, strict=True)), rest


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value:
        return value
    return None


def entry_fields(entry: bytes, attribute_keys: Sequence[str] = ()) -> EntryFields | None:
    """The fields of ``entry``, or ``None`` when it is neither an event nor an ingested record."""
    if entry[:1] != b"{" or len(entry) > _MAX_JSON:
        return None
    try:
        doc = orjson.loads(entry)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or doc.get("v") != 1:
        return None
    fields, record = doc.get("fields"), doc.get("record")
    if isinstance(fields, dict) and isinstance(record, dict):
        return _ingested(fields, doc.get("source"), record, attribute_keys)
    if "actor" in doc and "action" in doc:
        return _event(doc, attribute_keys)
    return None


def _event(doc: Mapping[str, Any], attribute_keys: Sequence[str]) -> EntryFields:
    attributes = doc.get("attributes")
    attrs: list[tuple[str, str]] = []
    if isinstance(attributes, dict):
        for key in attribute_keys:
            if (value := _text(attributes.get(key))) is not None:
                attrs.append((key, value))
    return EntryFields(
        actor=_text(doc.get("actor")), action=_text(doc.get("action")),
        resource=_text(doc.get("resource")), outcome=_text(doc.get("outcome")),
        time=_text(doc.get("time")), source=_text(doc.get("source")),
        request_id=_text(doc.get("request_id")), attributes=tuple(attrs),
    )


def _ingested(fields: Mapping[str, Any], source: object, record: Mapping[str, Any],
              attribute_keys: Sequence[str]) -> EntryFields:
    where = source if isinstance(source, dict) else {}
    attrs = [(key, value) for key in attribute_keys
             if (value := _record_value(record, key)) is not None]
    return EntryFields(
        actor=_text(fields.get("actor")), action=_text(fields.get("action")),
        resource=_text(fields.get("resource")), outcome=_text(fields.get("outcome")),
        time=_text(fields.get("time")), source=_text(where.get("transport")),
        principal=_text(where.get("principal")), attributes=tuple(attrs),
    )


def _record_value(record: Mapping[str, Any], key: str) -> str | None:
    """``key`` as a dotted path into the record, else as an OTLP attribute of the log record or
    of its resource (OTLP/JSON KeyValue lists)."""
    node: Any = record
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if (found := _text(node)) is not None:
        return found
    log_record, resource = record.get("log_record"), record.get("resource")
    for holder in (log_record, resource):
        if isinstance(holder, dict):
            for pair in holder.get("attributes") or ():
                if isinstance(pair, dict) and pair.get("key") == key:
                    value = pair.get("value")
                    if isinstance(value, dict):
                        for kind in ("stringValue", "intValue", "boolValue"):
                            if (found := _text(value.get(kind))) is not None:
                                return found
    return None


def matches(fields: EntryFields | None, name: str, value: str, prefix: bool) -> bool:
    """Whether the entry's ``name`` equals ``value`` (or, with ``prefix``, starts with it)."""
    got = None if fields is None else fields.get(name)
    if got is None:
        return False
    return got.startswith(value) if prefix else got == value


def rfc3339_ns(ns: int) -> str:
    """Unix nanoseconds as RFC 3339 UTC, with as many fraction digits as it needs (up to 9)."""
    seconds, fraction = divmod(ns, 10**9)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction:09d}".rstrip("0") + "Z" if fraction else f"{stamp}Z"
