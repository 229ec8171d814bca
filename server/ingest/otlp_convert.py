"""OTLP logs (opentelemetry-proto ``collector/logs/v1``) to entries: one LogRecord, one entry.

The conversion half of ``LogsService/Export`` (opentelemetry.io/docs/specs/otlp; the answer
half is server/ingest/otlp.py): a request's bytes, protobuf or OTLP/JSON, parsed, each record
routed to its log and written as its entry. It depends on no server state, so it runs in the
server process or in a conversion worker (server/ingest/worker.py) alike, with the same bytes.

The entry's ``record`` (server/ingest/record.py) is the OTLP/JSON encoding of the record and of
what it shares with its siblings, so that nothing the producer sent is lost::

    {"resource": {...Resource...}, "resource_schema_url": "...",
     "scope": {...InstrumentationScope...}, "scope_schema_url": "...",
     "log_record": {...LogRecord...}}

each part as protobuf's JSON mapping with OTLP's rules: lowerCamelCase names, enums as
integers, 64-bit integers as decimal strings, ``traceId``/``spanId`` as lowercase hex, other
bytes as base64; fields at their default value are left out. Fields that this version of
opentelemetry-proto does not know are not kept.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any, Final

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from auditlog_tlog.server.ingest.config import Route
from auditlog_tlog.server.ingest.otlp_json import (
    FIELD_OF,
    LOG_RECORD_FIELDS,
    log_record_fields,
    scalar_text,
)
from auditlog_tlog.server.ingest.record import encode_fields, rfc3339_nanos, source_json
from auditlog_tlog.tree.errors import AuditLogError, MalformedError

PROTOBUF: Final = "protobuf"  # the encodings of a request's bytes (convert_export)
JSON: Final = "json"

# Per log, the entries of its records (or the MalformedError that refuses one alone); and the
# routing refusals as (count of records, error).
Routed = tuple[dict[str, list[bytes | MalformedError]], list[tuple[int, AuditLogError]]]


class UnparsableError(MalformedError):
    """A request body that is not an ExportLogsServiceRequest (counted as the request's
    refusal, before any record is known)."""


def parse_protobuf(raw: bytes) -> ExportLogsServiceRequest:
    """An ``ExportLogsServiceRequest`` from its protobuf bytes; MalformedError if it is not."""
    try:
        return ExportLogsServiceRequest.FromString(raw)
    except DecodeError as exc:
        raise UnparsableError(
            f"body is not a valid {ExportLogsServiceRequest.DESCRIPTOR.full_name}: {exc}"
        ) from None


def parse_json(raw: bytes) -> ExportLogsServiceRequest:
    """An ``ExportLogsServiceRequest`` from OTLP/JSON (hex trace and span ids, unknown
    fields ignored as the specification requires); MalformedError if it is not, naming the
    member that is wrong where the shape of the document is."""
    try:
        document = json.loads(raw)
        for where, record in _json_records(document):
            for key in ("traceId", "spanId"):
                if key in record:
                    record[key] = _hex_as_base64(f"{where}.{key}", record[key])
        request = ExportLogsServiceRequest()
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (ValueError, TypeError, AttributeError, RecursionError, json_format.ParseError,
            MalformedError) as exc:
        raise UnparsableError(f"body is not valid OTLP/JSON logs: {str(exc)[:200]}") from None
    return request


_JSON_TYPES: Final = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
                      int: "a number", float: "a number", type(None): "null"}


def _members(value: Any, where: str, name: str) -> list[Any]:
    """The array member ``name`` of the object ``value`` (none when absent or null)."""
    if not isinstance(value, dict):
        raise MalformedError(f"{where}: got {_JSON_TYPES.get(type(value), '?')}, want an object")
    items = value.get(name)
    if items is None:
        return []
    if not isinstance(items, list):
        raise MalformedError(f"{where}.{name}: got {_JSON_TYPES.get(type(items), '?')}, "
                             "want an array")
    return items


def _json_records(document: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each LogRecord object of an OTLP/JSON document, with where it is."""
    for i, resource_logs in enumerate(_members(document, "body", "resourceLogs")):
        where = f"resourceLogs[{i}]"
        for j, scope_logs in enumerate(_members(resource_logs, where, "scopeLogs")):
            at = f"{where}.scopeLogs[{j}]"
            for k, record in enumerate(_members(scope_logs, at, "logRecords")):
                _members(record, f"{at}.logRecords[{k}]", "attributes")  # an object
                yield f"{at}.logRecords[{k}]", record


def _hex_as_base64(where: str, value: Any) -> str:
    """A trace or span id of OTLP/JSON (hex) as protobuf's JSON mapping has bytes (base64)."""
    try:
        if isinstance(value, str) and (not value or (value.isascii() and value.isalnum())):
            return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        pass
    raise MalformedError(f"{where}: got {str(value)[:40]!r}, want hex digits")


def as_dict(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, use_integers_for_enums=True)


# Whether this opentelemetry-proto's LogRecord has only the fields otlp_json converts.
_KNOWN: Final = {f.name for f in LogRecord.DESCRIPTOR.fields} <= LOG_RECORD_FIELDS


def _attributes(pairs: list[dict[str, Any]]) -> dict[str, str]:
    """The scalar attributes (OTLP/JSON KeyValues) as text, first occurrence of a key winning."""
    found: dict[str, str] = {}
    for pair in pairs:
        text = scalar_text(pair.get("value", {}))
        if text is not None:
            found.setdefault(pair.get("key", ""), text)
    return found


def _record_fields(record: LogRecord) -> tuple[dict[str, Any], list[str | None]]:
    """The record's OTLP/JSON and its attributes' search fields (``otlp_json``)."""
    if _KNOWN:
        return log_record_fields(record)
    document = as_dict(record)  # a newer LogRecord than otlp_json knows: the slow way
    for key, field in (("traceId", record.trace_id), ("spanId", record.span_id)):
        if field:
            document[key] = field.hex()
    found: list[str | None] = [None, None, None, None]
    best: dict[int, int] = {}
    for pair in document.get("attributes", ()):
        hit = FIELD_OF.get(pair.get("key", ""))
        if hit is None or best.get(hit[0], len(FIELD_OF)) <= hit[1]:
            continue
        text = scalar_text(pair.get("value", {}))
        if text is not None:
            found[hit[0]], best[hit[0]] = text, hit[1]
    return document, found


def routed_entries(
    request: ExportLogsServiceRequest, transport: str, principal: str | None, route: Route
) -> Routed:
    """The entries of the request's records by log (or the MalformedError that refuses a record
    alone), and the routing refusals (count, error). MalformedError for a record whose time
    is out of range: the request is refused as a whole.

    Each entry is ``encode_entry`` of the record's IngestRecord (search fields by the ranks of
    ``otlp_json.FIELD_OF``, ``record`` as the OTLP/JSON of the record and what it shares), written
    in one ``orjson`` call per record: the resource and scope are encoded once per
    ResourceLogs and ScopeLogs and spliced in as fragments."""
    by_log: dict[str, list[bytes | MalformedError]] = {}
    refused: list[tuple[int, AuditLogError]] = []
    source = source_json(transport, principal)
    for resource_logs in request.resource_logs:
        count = sum(len(s.log_records) for s in resource_logs.scope_logs)
        if not count:
            continue
        resource = as_dict(resource_logs.resource)
        try:
            log = route.pick(principal, _attributes(resource.get("attributes", [])))
        except AuditLogError as exc:
            refused.append((count, exc))
            continue
        entries = by_log.setdefault(log, [])
        resource_json = orjson.Fragment(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS))
        for scope_logs in resource_logs.scope_logs:
            # One dict for every record of the scope: only "log_record" changes between them.
            # Its keys are in sorted order, as those of log_record_fields' dicts are.
            shared: dict[str, Any] = {
                "log_record": None, "resource": resource_json,
                "resource_schema_url": resource_logs.schema_url,
                "scope": orjson.Fragment(orjson.dumps(as_dict(scope_logs.scope),
                                                      option=orjson.OPT_SORT_KEYS)),
                "scope_schema_url": scope_logs.schema_url,
            }
            for record in scope_logs.log_records:
                shared["log_record"], (actor, action, resource_name, outcome) = _record_fields(record)
                nanos = record.time_unix_nano or record.observed_time_unix_nano
                time = rfc3339_nanos(nanos) if nanos else None  # out of range: the whole request
                try:
                    entries.append(encode_fields(actor, action or record.event_name or None,
                                                 resource_name, outcome, time, shared, source,
                                                 keys_sorted=_KNOWN))
                except MalformedError as exc:
                    entries.append(exc)
    return by_log, refused


def convert_export(raw: bytes, encoding: str, transport: str, principal: str | None,
                   route: Route) -> Routed:
    """``routed_entries`` of the request in ``raw`` (:data:`PROTOBUF` or :data:`JSON`):
    UnparsableError when it does not parse, MalformedError as routed_entries."""
    request = parse_protobuf(raw) if encoding == PROTOBUF else parse_json(raw)
    return routed_entries(request, transport, principal, route)
