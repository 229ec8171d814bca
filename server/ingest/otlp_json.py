"""OTLP/JSON of a LogRecord, written out by hand for speed (opentelemetry.io/docs/specs/otlp,
"JSON Protobuf Encoding"), and its search fields read in the same pass (docs/ingestion.md).

The result equals ``json_format.MessageToDict(record, use_integers_for_enums=True)`` with
``traceId``/``spanId`` as lowercase hex (a test pins this on generated records), at a tenth of
the cost: lowerCamelCase names, fields at their default value left out, 64-bit integers as
decimal strings, bytes as standard base64, non-finite doubles as ``"NaN"``/``"Infinity"``.
:data:`LOG_RECORD_FIELDS` lists the LogRecord fields this knows; a LogRecord of a newer
opentelemetry-proto with more fields is converted by ``MessageToDict`` instead (``otlp.py``).

:func:`log_record_fields` gives the same dict and the search fields of the record's attributes
(:data:`FIELD_OF`) from one pass over them: the attributes are the bulk of an audit record,
and reading each out of the protobuf message is most of the conversion's cost.
"""

from __future__ import annotations

import base64
import math
from typing import Any, Final

from google.protobuf import json_format
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

LOG_RECORD_FIELDS: Final = frozenset({
    "time_unix_nano", "observed_time_unix_nano", "severity_number", "severity_text", "body",
    "attributes", "dropped_attributes_count", "flags", "trace_id", "span_id", "event_name",
})


# The search fields, from the first of these LogRecord attributes present (docs/ingestion.md);
# ``action`` falls back to the record's event_name, ``time`` is time_unix_nano, else
# observed_time_unix_nano (``otlp.py``).
ACTOR_KEYS: Final = ("auditlog.actor", "user.id", "enduser.id", "user.name")
ACTION_KEYS: Final = ("auditlog.action", "event.name")
RESOURCE_KEYS: Final = ("auditlog.resource", "url.full", "url.path", "db.collection.name")
OUTCOME_KEYS: Final = ("auditlog.outcome", "event.outcome", "http.response.status_code")
FIELDS: Final = ("actor", "action", "resource", "outcome")

# attribute key -> (slot in FIELDS, rank): the lower rank wins when several are present.
FIELD_OF: Final = {
    key: (slot, rank)
    for slot, keys in enumerate((ACTOR_KEYS, ACTION_KEYS, RESOURCE_KEYS, OUTCOME_KEYS))
    for rank, key in enumerate(keys)
}
_UNRANKED: Final = 99  # worse than any rank in FIELD_OF


def scalar_text(value: dict[str, Any]) -> str | None:
    """A scalar OTLP/JSON AnyValue as text (None for arrays, maps, bytes and empty values)."""
    for kind, text in value.items():
        if kind in ("stringValue", "intValue", "doubleValue"):
            return str(text)
        if kind == "boolValue":
            return "true" if text else "false"
    return None


def _double(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def any_value(value: AnyValue) -> dict[str, Any]:
    """An AnyValue as OTLP/JSON."""
    kind = value.WhichOneof("value")
    if kind is None:
        return {}
    if kind == "string_value":
        return {"stringValue": value.string_value}
    if kind == "int_value":
        return {"intValue": str(value.int_value)}
    if kind == "bool_value":
        return {"boolValue": value.bool_value}
    if kind == "double_value":
        return {"doubleValue": _double(value.double_value)}
    if kind == "bytes_value":
        return {"bytesValue": base64.b64encode(value.bytes_value).decode()}
    if kind == "array_value":
        values = value.array_value.values
        return {"arrayValue": {"values": [any_value(v) for v in values]} if values else {}}
    if kind == "kvlist_value":
        pairs = value.kvlist_value.values
        return {"kvlistValue": {"values": key_values(pairs)} if pairs else {}}
    # ``string_value_strindex`` (an index into a string table that OTLP logs do not carry) or a
    # member of a newer opentelemetry-proto: kept as protobuf's JSON mapping writes it.
    return json_format.MessageToDict(value, use_integers_for_enums=True)


def key_values(pairs: Any) -> list[dict[str, Any]]:
    """Repeated KeyValue as OTLP/JSON."""
    out: list[dict[str, Any]] = []
    for pair in pairs:
        item: dict[str, Any] = {"key": pair.key} if pair.key else {}
        if pair.key_strindex:
            item["keyStrindex"] = pair.key_strindex
        if pair.HasField("value"):
            item["value"] = any_value(pair.value)
        out.append(item)
    return out


def log_record(record: LogRecord) -> dict[str, Any]:
    """A LogRecord as OTLP/JSON (module docstring)."""
    return log_record_fields(record)[0]


def log_record_fields(record: LogRecord) -> tuple[dict[str, Any], list[str | None]]:
    """``log_record(record)`` and the record's search fields from its attributes, in the order
    of :data:`FIELDS` (None: no attribute gives it; the first attribute of the best-ranked key
    with a scalar value wins).

    The dict's keys are inserted in sorted order, as are those of every dict in it (each
    AnyValue has one key; a KeyValue ``key`` then ``value``): ``orjson`` writes it as it would
    with ``OPT_SORT_KEYS``, without sorting (``encode_fields(..., keys_sorted=True)``)."""
    out: dict[str, Any] = {}
    found: list[str | None] = [None, None, None, None]
    attributes = record.attributes
    if attributes:
        ranks = [_UNRANKED] * 4
        items: list[dict[str, Any]] = []
        append = items.append
        for pair in attributes:
            key = pair.key
            pb_value = pair.value
            text: str | None = pb_value.string_value
            if text:  # most attributes: a string, which is not empty only when it is set
                value: dict[str, Any] = {"stringValue": text}
            elif pair.HasField("value"):
                text = None
                value = any_value(pb_value)
            else:
                append(key_values((pair,))[0])
                continue
            if pair.key_strindex:  # a string-table key, which OTLP logs do not use: kept as sent
                append({**({"key": key} if key else {}), "keyStrindex": pair.key_strindex,
                        "value": value})
            else:
                append({"key": key, "value": value} if key else {"value": value})
            hit = FIELD_OF.get(key)
            if hit is not None and hit[1] < ranks[hit[0]]:
                if text is None:
                    text = scalar_text(value)
                if text is not None:  # else a worse key, or the same key later, may give it
                    found[hit[0]] = text
                    ranks[hit[0]] = hit[1]
        out["attributes"] = items
    body = record.body
    if body_text := body.string_value:  # as for attributes: no other check when set
        out["body"] = {"stringValue": body_text}
    elif record.HasField("body"):
        out["body"] = any_value(body)
    if record.dropped_attributes_count:
        out["droppedAttributesCount"] = record.dropped_attributes_count
    if record.event_name:
        out["eventName"] = record.event_name
    if record.flags:
        out["flags"] = record.flags
    if record.observed_time_unix_nano:
        out["observedTimeUnixNano"] = str(record.observed_time_unix_nano)
    if record.severity_number:
        out["severityNumber"] = record.severity_number
    if record.severity_text:
        out["severityText"] = record.severity_text
    if record.span_id:
        out["spanId"] = record.span_id.hex()
    if record.time_unix_nano:
        out["timeUnixNano"] = str(record.time_unix_nano)
    if record.trace_id:
        out["traceId"] = record.trace_id.hex()
    return out, found
