"""The entries of an Export request, written in one pass per record (``routed_entries``), are
``encode_entry`` of the record as docs/ingestion.md defines it: OTLP/JSON of the record and
what it shares, and the search fields by the documented attribute ranks."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from auditlog_tlog.server.ingest.config import Route
from auditlog_tlog.server.ingest.otlp_convert import routed_entries
from auditlog_tlog.server.ingest.record import (
    IngestRecord,
    SearchFields,
    decode_entry,
    encode_entry,
    rfc3339_nanos,
)
from tests.server.ingest.test_otlp_json import log_records, values

# docs/ingestion.md, "Search fields": each field from the first of its keys present.
KEYS = {
    "actor": ("auditlog.actor", "user.id", "enduser.id", "user.name"),
    "action": ("auditlog.action", "event.name"),
    "resource": ("auditlog.resource", "url.full", "url.path", "db.collection.name"),
    "outcome": ("auditlog.outcome", "event.outcome", "http.response.status_code"),
}
ALL_KEYS = [k for keys in KEYS.values() for k in keys]


def _reference_text(value: dict[str, Any]) -> str | None:
    if "stringValue" in value:
        return str(value["stringValue"])
    if "intValue" in value:
        return str(value["intValue"])
    if "doubleValue" in value:
        return str(value["doubleValue"])
    if "boolValue" in value:
        return "true" if value["boolValue"] else "false"
    return None


def _reference_fields(document: dict[str, Any]) -> SearchFields:
    """The documented rule, written as plainly as possible: the first key in the field's list
    that some attribute with a scalar value has; of several such attributes, the first."""
    found: dict[str, str | None] = {}
    for name, keys in KEYS.items():
        found[name] = None
        for key in keys:
            texts = [_reference_text(p.get("value", {})) for p in document.get("attributes", [])
                     if p.get("key", "") == key]
            texts = [t for t in texts if t is not None]
            if texts:
                found[name] = texts[0]
                break
    nanos = int(document.get("timeUnixNano") or document.get("observedTimeUnixNano") or 0)
    return SearchFields(actor=found["actor"], action=found["action"] or document.get("eventName"),
                        resource=found["resource"], outcome=found["outcome"],
                        time=rfc3339_nanos(nanos) if nanos else None)


def _as_json(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, use_integers_for_enums=True)


def _reference_entries(request: ExportLogsServiceRequest, principal: str | None) -> list[bytes]:
    out = []
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                document = _as_json(record)
                for key, raw in (("traceId", record.trace_id), ("spanId", record.span_id)):
                    if raw:
                        document[key] = raw.hex()
                record_json = {
                    "resource": _as_json(resource_logs.resource),
                    "resource_schema_url": resource_logs.schema_url,
                    "scope": _as_json(scope_logs.scope), "scope_schema_url": scope_logs.schema_url,
                    "log_record": document}
                out.append(encode_entry(IngestRecord("otlp-grpc", principal,
                                                     _reference_fields(document), record_json)))
    return out


attributes = st.lists(st.tuples(st.sampled_from(ALL_KEYS) | st.text(max_size=3), st.none() | values),
                      max_size=8)


@st.composite
def requests(draw: Any) -> ExportLogsServiceRequest:
    records = draw(st.lists(log_records(), min_size=1, max_size=3))
    for record in records:
        if record.time_unix_nano > 253402300799 * 10**9:  # beyond 9999: refused as a request
            record.time_unix_nano = 0
        if not record.time_unix_nano and record.observed_time_unix_nano > 253402300799 * 10**9:
            record.observed_time_unix_nano = 0
        for key, value in draw(attributes):
            record.attributes.append(KeyValue(key=key) if value is None else KeyValue(key=key, value=value))
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="s"))])
    scope = InstrumentationScope(name=draw(st.text(max_size=4)), version="1")
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=resource, schema_url=draw(st.text(max_size=4)),
        scope_logs=[ScopeLogs(scope=scope, log_records=records[:1]),
                    ScopeLogs(log_records=records[1:], schema_url="u")])])


@settings(max_examples=200, deadline=None)
@given(requests(), st.none() | st.just("collector"))
def test_entries_are_the_documented_encoding(request: ExportLogsServiceRequest,
                                             principal: str | None) -> None:
    by_log, refused = routed_entries(request, "otlp-grpc", principal, Route(log="l"))
    assert not refused
    assert by_log["l"] == _reference_entries(request, principal)
    for entry in by_log["l"]:
        assert isinstance(entry, bytes)
        assert encode_entry(decode_entry(entry)) == entry  # what a sink with addenda does
