"""OTLP logs (opentelemetry-proto ``collector/logs/v1``): one LogRecord, one entry.

Serves ``LogsService/Export`` for both transports (``server.ingest.otlp_grpc`` and the
``/v1/logs`` route of ``server.ingest.http``), following the OTLP specification
(opentelemetry.io/docs/specs/otlp): the answer comes only once every accepted record is
durable; records refused alone are counted in ``partial_success`` with the reasons; a request
the server cannot take now (a full queue, a quota, a store that is down) fails as a whole with
a retryable status, and the producer's retry is answered by dedup.

The entry's ``record`` (server/ingest/record.py) is the OTLP/JSON encoding of the record and of
what it shares with its siblings, so that nothing the producer sent is lost::

    {"resource": {...Resource...}, "resource_schema_url": "...",
     "scope": {...InstrumentationScope...}, "scope_schema_url": "...",
     "log_record": {...LogRecord...}}

each part as protobuf's JSON mapping with OTLP's rules: lowerCamelCase names, enums as
integers, 64-bit integers as decimal strings, ``traceId``/``spanId`` as lowercase hex, other
bytes as base64; fields at their default value are left out. Fields that this version of
opentelemetry-proto does not know are not kept. Two deliveries of one record give one entry.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from auditlog_tlog.server.ingest.config import Route
from auditlog_tlog.server.ingest.otlp_json import LOG_RECORD_FIELDS, log_record
from auditlog_tlog.server.ingest.record import IngestRecord, SearchFields, rfc3339_nanos
from auditlog_tlog.server.ingest.sink import IngestSink
from auditlog_tlog.server.security import Principal
from auditlog_tlog.storage.logstore import AppendOutcome
from auditlog_tlog.tree.errors import AuditLogError, MalformedError, PushbackError, StorageError

# The search fields, from the first of these LogRecord attributes present (docs/ingestion.md);
# ``action`` falls back to the record's event_name, ``time`` is time_unix_nano, else
# observed_time_unix_nano.
ACTOR_KEYS: Final = ("auditlog.actor", "user.id", "enduser.id", "user.name")
ACTION_KEYS: Final = ("auditlog.action", "event.name")
RESOURCE_KEYS: Final = ("auditlog.resource", "url.full", "url.path", "db.collection.name")
OUTCOME_KEYS: Final = ("auditlog.outcome", "event.outcome", "http.response.status_code")
MAX_MESSAGES: Final = 5  # reasons quoted in partial_success.error_message


def parse_protobuf(raw: bytes) -> ExportLogsServiceRequest:
    """An ``ExportLogsServiceRequest`` from its protobuf bytes; MalformedError if it is not."""
    try:
        return ExportLogsServiceRequest.FromString(raw)
    except DecodeError as exc:
        raise MalformedError(
            f"body is not a valid {ExportLogsServiceRequest.DESCRIPTOR.full_name}: {exc}"
        ) from None


def parse_json(raw: bytes) -> ExportLogsServiceRequest:
    """An ``ExportLogsServiceRequest`` from OTLP/JSON (hex trace and span ids, unknown
    fields ignored as the specification requires); MalformedError if it is not."""
    try:
        document = json.loads(raw)
        for record in _json_records(document):
            for key in ("traceId", "spanId"):
                if key in record:
                    record[key] = base64.b64encode(bytes.fromhex(record[key])).decode()
        request = ExportLogsServiceRequest()
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (ValueError, TypeError, AttributeError, RecursionError, json_format.ParseError) as exc:
        raise MalformedError(f"body is not valid OTLP/JSON logs: {str(exc)[:200]}") from None
    return request


def _json_records(document: Any) -> Iterator[dict[str, Any]]:
    for resource_logs in document.get("resourceLogs", ()):
        for scope_logs in resource_logs.get("scopeLogs", ()):
            yield from scope_logs.get("logRecords", ())


def _as_dict(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, use_integers_for_enums=True)


# Whether this opentelemetry-proto's LogRecord has only the fields otlp_json converts.
_KNOWN: Final = {f.name for f in LogRecord.DESCRIPTOR.fields} <= LOG_RECORD_FIELDS


def _record_dict(record: LogRecord) -> dict[str, Any]:
    if _KNOWN:
        return log_record(record)
    document = _as_dict(record)
    for key, field in (("traceId", record.trace_id), ("spanId", record.span_id)):
        if field:
            document[key] = field.hex()
    return document


def _text(value: Mapping[str, Any]) -> str | None:
    """A scalar OTLP/JSON AnyValue as text (None for arrays, maps, bytes and empty values)."""
    for kind, text in value.items():
        if kind in ("stringValue", "intValue"):
            return str(text)
        if kind == "boolValue":
            return "true" if text else "false"
        if kind == "doubleValue":
            return str(text)
    return None


def _attributes(pairs: list[dict[str, Any]]) -> dict[str, str]:
    """The scalar attributes (OTLP/JSON KeyValues) as text, first occurrence of a key winning."""
    found: dict[str, str] = {}
    for pair in pairs:
        text = _text(pair.get("value", {}))
        if text is not None:
            found.setdefault(pair.get("key", ""), text)
    return found


# attribute key -> (search field, rank): the lower rank wins when several are present.
_FIELD_OF: Final = {
    key: (name, rank)
    for name, keys in (("actor", ACTOR_KEYS), ("action", ACTION_KEYS),
                       ("resource", RESOURCE_KEYS), ("outcome", OUTCOME_KEYS))
    for rank, key in enumerate(keys)
}


def search_fields(record: Mapping[str, Any]) -> SearchFields:
    """The documented search fields of one LogRecord, from its OTLP/JSON (one pass over its
    attributes)."""
    best: dict[str, tuple[int, str]] = {}
    for pair in record.get("attributes", ()):
        hit = _FIELD_OF.get(pair.get("key", ""))
        if hit is None:
            continue
        name, rank = hit
        if name in best and best[name][0] <= rank:
            continue  # a better key, or the same key earlier, already gave this field
        text = _text(pair.get("value", {}))
        if text is not None:
            best[name] = (rank, text)
    found = {name: text for name, (_, text) in best.items()}
    nanos = int(record.get("timeUnixNano") or record.get("observedTimeUnixNano") or 0)
    return SearchFields(
        actor=found.get("actor"),
        action=found.get("action") or record.get("eventName"),
        resource=found.get("resource"),
        outcome=found.get("outcome"),
        time=rfc3339_nanos(nanos) if nanos else None,
    )


def routed_records(
    request: ExportLogsServiceRequest, transport: str, principal: str | None, route: Route
) -> tuple[dict[str, list[IngestRecord]], list[tuple[int, AuditLogError]]]:
    """The request's records by log, and the routing refusals (count, error)."""
    by_log: dict[str, list[IngestRecord]] = {}
    refused: list[tuple[int, AuditLogError]] = []
    for resource_logs in request.resource_logs:
        count = sum(len(s.log_records) for s in resource_logs.scope_logs)
        resource = _as_dict(resource_logs.resource)
        try:
            log = route.pick(principal, _attributes(resource.get("attributes", [])))
        except AuditLogError as exc:
            if count:
                refused.append((count, exc))
            continue
        for scope_logs in resource_logs.scope_logs:
            shared = {"resource": resource, "resource_schema_url": resource_logs.schema_url,
                      "scope": _as_dict(scope_logs.scope), "scope_schema_url": scope_logs.schema_url}
            for record in scope_logs.log_records:
                document = _record_dict(record)
                by_log.setdefault(log, []).append(IngestRecord(
                    transport, principal, search_fields(document), {**shared, "log_record": document},
                ))
    return by_log, refused


class OTLPIngest:
    """``Export`` for either transport: route, append durably, report partial success."""

    def __init__(self, sink: IngestSink, route: Route) -> None:
        self._sink = sink
        self._route = route

    async def export(self, request: ExportLogsServiceRequest, transport: str,
                     principal: Principal | None) -> ExportLogsServiceResponse:
        """The answer once every accepted record is durable (module docstring)."""
        name = principal.name if principal is not None else None
        by_log, refused = routed_records(request, transport, name, self._route)
        for count, exc in refused:
            self._sink.rejected(transport, exc, count)
        rejected = sum(count for count, _ in refused)
        reasons = [str(exc) for _, exc in refused]
        accepted = 0
        refusal: AuditLogError | None = refused[0][1] if refused else None
        for log, records in by_log.items():
            try:
                results = await self._sink.append(principal, log, records)
            except (PushbackError, StorageError):
                raise  # retryable: the whole request fails, and dedup answers the retry
            except AuditLogError as exc:
                rejected += len(records)
                reasons.append(f"log {log[:200]}: {exc}")
                refusal = refusal or exc
                continue
            for result in results:
                if isinstance(result, AppendOutcome):
                    accepted += 1
                else:
                    rejected += 1
                    reasons.append(str(result))
        if not accepted and refusal is not None:
            raise refusal  # nothing taken, for a reason of the request's: its own status
        response = ExportLogsServiceResponse()
        if rejected:
            response.partial_success.rejected_log_records = rejected
            shown = "; ".join(dict.fromkeys(reasons[:MAX_MESSAGES]))
            more = f" (and {len(reasons) - MAX_MESSAGES} more)" if len(reasons) > MAX_MESSAGES else ""
            response.partial_success.error_message = (
                f"{rejected} of {rejected + accepted} log records rejected: {shown}{more}")
        return response


def json_response(response: ExportLogsServiceResponse) -> bytes:
    """An ExportLogsServiceResponse as OTLP/JSON."""
    return json.dumps(_as_dict(response), separators=(",", ":")).encode()


