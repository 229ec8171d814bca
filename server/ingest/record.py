"""One ingested record and its canonical entry encoding (docs/ingestion.md, "The entry").

Every source (OTLP, syslog, RELP, the Kubernetes audit webhook) turns what a producer sent
into an :class:`IngestRecord`: where it came from (transport and authenticated principal),
the fields search indexes (:class:`SearchFields`) and the producer's record itself, kept
losslessly as JSON values (bytes as standard base64 strings). :func:`encode_entry` gives the
one entry for it::

    {"fields":{"action":...,"actor":...,"outcome":...,"resource":...,"time":...},
     "record":{...},"source":{"principal":...,"transport":...},"v":1}

A record with personal fields kept apart (server/ingest/personal.py, docs/erasure.md) has them
removed from ``record`` and gains ``"addenda":{"<name>":"<hex sha256>",...}`` first, with
``"v":2``; one without is encoded exactly as above.

UTF-8 JSON (RFC 8259) with sorted keys, no insignificant whitespace and numbers in their
shortest round-trip form, as ``orjson`` writes it with ``OPT_SORT_KEYS`` (in the spirit of RFC
8785; a tenth of the cost of the standard library's encoder). Nothing that differs between
two deliveries of one record (receive time, peer port) is in it, so a redelivery is
byte-identical and the log's leaf-hash dedup answers it with the index of the first delivery.
``record`` is a dict of JSON values: str keys, finite numbers, integers within 64 bits, bytes
already as base64 text.
"""

from __future__ import annotations

import datetime
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import orjson

from auditlog_tlog.tree.errors import MalformedError

ENTRY_VERSION: Final = 1
ENTRY_VERSION_ADDENDA: Final = 2  # with an "addenda" member (server/ingest/personal.py)
_MAX_NANOS: Final = 253402300799 * 10**9  # 9999-12-31T23:59:59Z, the last RFC 3339 second


@dataclass(frozen=True, slots=True)
class SearchFields:
    """What search indexes, per source as documented: who, what action, which resource,
    the outcome and the event time (RFC 3339, UTC, ``Z``). ``None``: the record does not say."""

    actor: str | None = None
    action: str | None = None
    resource: str | None = None
    outcome: str | None = None
    time: str | None = None

    def __post_init__(self) -> None:
        for name in ("actor", "action", "resource", "outcome", "time"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"SearchFields.{name}: got {type(value).__name__}, want str or None")


@dataclass(frozen=True, slots=True)
class IngestRecord:
    """One record as received: ``transport`` names the protocol (``otlp-grpc``, ``otlp-http``,
    ``k8s-audit``, ``syslog-tls``, ``relp``, ...), ``principal`` the authenticated caller
    (``None``: an open server or an anonymous producer)."""

    transport: str
    principal: str | None
    fields: SearchFields
    record: Mapping[str, Any]
    addenda: tuple[tuple[str, str], ...] = ()
    """Personal fields kept apart (server/ingest/personal.py): name -> hex SHA-256 of each."""

    def __post_init__(self) -> None:
        if not self.transport:
            raise ValueError("IngestRecord.transport: got '', want the protocol's name")
        if not isinstance(self.record, dict):
            raise TypeError(f"IngestRecord.record: got {type(self.record).__name__}, want a dict")


def encode_entry(rec: IngestRecord) -> bytes:
    """The canonical entry of ``rec``; MalformedError when the record holds what JSON cannot
    (a NaN or infinite number, a non-string key, an integer beyond 64 bits, a lone surrogate,
    a value that is not a JSON type)."""
    fields = rec.fields
    try:
        record = orjson.dumps(rec.record, option=orjson.OPT_SORT_KEYS)
        head = orjson.dumps({"actor": fields.actor, "action": fields.action,
                             "resource": fields.resource, "outcome": fields.outcome,
                             "time": fields.time}, option=orjson.OPT_SORT_KEYS)
        source = orjson.dumps({"transport": rec.transport, "principal": rec.principal},
                              option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise MalformedError(f"record cannot be encoded as JSON: {exc}") from None
    # orjson writes a NaN or an infinity as null; only a record with a null can hold one.
    if b"null" in record and _non_finite(rec.record):
        raise MalformedError("record cannot be encoded as JSON: it holds a NaN or infinite "
                             "number, want finite numbers")
    # The top-level keys in sorted order, as one sorted dump of the whole document would be.
    if rec.addenda:
        addenda = orjson.dumps(dict(rec.addenda), option=orjson.OPT_SORT_KEYS)
        return b'{"addenda":%b,"fields":%b,"record":%b,"source":%b,"v":%d}' % (
            addenda, head, record, source, ENTRY_VERSION_ADDENDA)
    return b'{"fields":%b,"record":%b,"source":%b,"v":%d}' % (head, record, source, ENTRY_VERSION)


def source_json(transport: str, principal: str | None) -> orjson.Fragment:
    """The entry's ``source`` member, encoded once for the many records of one request."""
    return orjson.Fragment(orjson.dumps({"principal": principal, "transport": transport},
                                        option=orjson.OPT_SORT_KEYS))


def encode_fields(actor: str | None, action: str | None, resource: str | None,
                  outcome: str | None, time: str | None, record: Mapping[str, Any],
                  source: orjson.Fragment, keys_sorted: bool = False) -> bytes:
    """The entry :func:`encode_entry` gives for these fields, ``record`` and ``source``
    (:func:`source_json`), without an ``IngestRecord`` and in one ``orjson`` call: for a
    source that builds many records whose values are all JSON already (no NaN, no infinite
    number, every string valid Unicode: as an OTLP record is, its doubles being written as
    text when not finite). ``record`` may hold ``orjson.Fragment`` members (parts shared by a
    request's records, encoded once, their keys sorted). With ``keys_sorted``, every dict in
    ``record`` holds its keys in sorted order already, so ``orjson`` writes them as they come
    (the same bytes, without sorting each dict again). MalformedError as encode_entry."""
    try:
        return orjson.dumps({
            "fields": {"action": action, "actor": actor, "outcome": outcome,
                       "resource": resource, "time": time},
            "record": record, "source": source, "v": ENTRY_VERSION,
        }, option=0 if keys_sorted else orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise MalformedError(f"record cannot be encoded as JSON: {exc}") from None


def decode_entry(entry: bytes) -> IngestRecord:
    """The IngestRecord that an entry without addenda was encoded from (``encode_entry`` of
    the result gives ``entry`` again): for a sink that must take fields out of a record built
    by :func:`encode_fields` (server/ingest/personal.py)."""
    document = orjson.loads(entry)
    source = document["source"]
    return IngestRecord(source["transport"], source["principal"],
                        SearchFields(**document["fields"]), document["record"])


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_non_finite(v) for v in value)
    return False


def rfc3339_nanos(nanos: int) -> str:
    """Unix nanoseconds as RFC 3339 UTC with nanoseconds: ``2026-11-30T01:45:00.000000001Z``."""
    if not 0 <= nanos <= _MAX_NANOS:
        raise MalformedError(f"time of {nanos} ns since 1970, want 0..{_MAX_NANOS}")
    seconds, fraction = divmod(nanos, 10**9)
    stamp = _utc_second(seconds)
    return f"{stamp}.{fraction:09d}Z" if fraction else f"{stamp}Z"


@functools.lru_cache(maxsize=1024)
def _utc_second(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of a Unix second (cached: a batch's records share seconds)."""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def rfc3339_utc(text: str) -> str:
    """An RFC 3339 (or ISO 8601) timestamp with an offset as UTC ``Z`` (fraction kept as given,
    up to ns); MalformedError for anything else, or a time outside years 1..9999 in UTC."""
    raw = text.strip()
    head, dot, rest = raw.partition(".")
    fraction = ""
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, rest = rest[:digits], rest[digits:]
        raw = head + rest
        if not 1 <= len(fraction) <= 9:
            raise MalformedError(f"time {text[:64]!r}: fraction of {len(fraction)} digits, want 1..9")
    # A sender's messages share their seconds: the conversion of a short one is cached.
    utc = _utc_second_of_cached(raw) if len(raw) <= _CACHED_STAMP else _utc_second_of(raw)
    if isinstance(utc, _TimeError):
        raise MalformedError(f"time {text[:64]!r}{utc.value}")
    return f"{utc}.{fraction}Z" if fraction else f"{utc}Z"


class _TimeError(Enum):
    """Why a timestamp without its fraction is not one (the rest of the message)."""

    SYNTAX = ": want RFC 3339 (2006-01-02T15:04:05Z)"
    NO_OFFSET = ": no UTC offset, want Z or +hh:mm"
    RANGE = " is outside years 1..9999 in UTC"


_CACHED_STAMP: Final = 32  # "2006-01-02T15:04:05+hh:mm" with room; longer ones are not cached


def _utc_second_of(raw: str) -> str | _TimeError:
    """``YYYY-MM-DDTHH:MM:SS`` in UTC of a timestamp with an offset and without a fraction."""
    try:
        parsed = datetime.datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        return _TimeError.SYNTAX
    if parsed.tzinfo is None:
        return _TimeError.NO_OFFSET
    try:
        return parsed.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        return _TimeError.RANGE


_utc_second_of_cached: Final = functools.lru_cache(maxsize=4096)(_utc_second_of)


@functools.lru_cache(maxsize=4096)
def utc_of_z_second(second: str) -> str | None:
    """What :func:`rfc3339_utc` makes of ``second + "Z"`` (``second`` being
    ``YYYY-MM-DDTHH:MM:SS``, checked by the caller), cached by ``second`` itself (one look-up
    a message, no concatenation); None when it is not a time, which rfc3339_utc then says why.
    For a reader that has checked the stamp's form already: ``utc_of_z_second(stamp[:19]) +
    stamp[19:]`` is ``rfc3339_utc(stamp)`` for a stamp ``YYYY-MM-DDTHH:MM:SS[.fraction]Z``."""
    utc = _utc_second_of(second + "Z")
    return utc if isinstance(utc, str) else None
