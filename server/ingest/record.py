"""One ingested record and its canonical entry encoding (docs/ingestion.md, "The entry").

Every source (OTLP, syslog, RELP, the Kubernetes audit webhook) turns what a producer sent
into an :class:`IngestRecord`: where it came from (transport and authenticated principal),
the fields search indexes (:class:`SearchFields`) and the producer's record itself, kept
losslessly as JSON values (bytes as standard base64 strings). :func:`encode_entry` gives the
one entry for it::

    {"fields":{"action":...,"actor":...,"outcome":...,"resource":...,"time":...},
     "record":{...},"source":{"principal":...,"transport":...},"v":1}

UTF-8 JSON (RFC 8259) with sorted keys and no insignificant whitespace, in the spirit of RFC
8785: nothing that differs between two deliveries of one record (receive time, peer port) is
in it, so a redelivery is byte-identical and the log's leaf-hash dedup answers it with the
index of the first delivery.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from auditlog_tlog.tree.errors import MalformedError

ENTRY_VERSION: Final = 1
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

    def __post_init__(self) -> None:
        if not self.transport:
            raise ValueError("IngestRecord.transport: got '', want the protocol's name")


def encode_entry(rec: IngestRecord) -> bytes:
    """The canonical entry of ``rec``; MalformedError when the record holds what JSON cannot
    (a NaN or infinite number, a non-string key, a value that is not a JSON type)."""
    document = {
        "v": ENTRY_VERSION,
        "source": {"transport": rec.transport, "principal": rec.principal},
        "fields": asdict(rec.fields),
        "record": rec.record,
    }
    try:
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MalformedError(f"record cannot be encoded as JSON: {exc}") from None
    try:
        return text.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate from a lenient decoder upstream
        raise MalformedError(f"record holds text that is not valid Unicode: {exc.reason}") from None


def rfc3339_nanos(nanos: int) -> str:
    """Unix nanoseconds as RFC 3339 UTC with nanoseconds: ``2026-11-30T01:45:00.000000001Z``."""
    if not 0 <= nanos <= _MAX_NANOS:
        raise MalformedError(f"time of {nanos} ns since 1970, want 0..{_MAX_NANOS}")
    seconds, fraction = divmod(nanos, 10**9)
    stamp = datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction:09d}Z" if fraction else f"{stamp}Z"


def rfc3339_utc(text: str) -> str:
    """An RFC 3339 timestamp with any offset as UTC ``Z`` (fraction kept as given, up to ns)."""
    raw = text.strip()
    head, dot, rest = raw.partition(".")
    fraction = ""
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, rest = rest[:digits], rest[digits:]
        raw = head + rest
        if not 1 <= len(fraction) <= 9:
            raise MalformedError(f"time {text[:64]!r}: fraction of {len(fraction)} digits, want 1..9")
    try:
        parsed = datetime.datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise MalformedError(f"time {text[:64]!r}: want RFC 3339 (2006-01-02T15:04:05Z)") from None
    if parsed.tzinfo is None:
        raise MalformedError(f"time {text[:64]!r}: no UTC offset, want Z or +hh:mm")
    utc = parsed.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{utc}.{fraction}Z" if fraction else f"{utc}Z"
