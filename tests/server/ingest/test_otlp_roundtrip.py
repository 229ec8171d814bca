"""An entry keeps the producer's LogRecord (docs/ingestion.md, "OTLP logs"): its
``record.log_record``, parsed back with protobuf's ``json_format`` (the two ids turned back
from hex), is the LogRecord sent, field for field, and so are ``record.resource`` and
``record.scope``. The one thing OTLP/JSON cannot carry is which NaN a double was: every NaN
comes back as the one "NaN" of JSON."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import orjson
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from auditlog_tlog.server.ingest.config import Route
from auditlog_tlog.server.ingest.otlp_convert import routed_entries
from tests.server.ingest.test_otlp_json import log_records, values

LAST_SECOND_OF_9999 = 253402300799 * 10**9  # a later time_unix_nano refuses the record


def record_back(entry: dict[str, Any]) -> LogRecord:
    """The LogRecord of a decoded entry, as docs/ingestion.md says an auditor gets it back."""
    document = dict(entry["record"]["log_record"])
    for key in ("traceId", "spanId"):
        if key in document:
            document[key] = base64.b64encode(bytes.fromhex(document[key])).decode()
    return json_format.ParseDict(document, LogRecord())


def _canonical_nans(value: AnyValue) -> None:
    """Every NaN in ``value`` made the NaN that JSON's "NaN" parses to."""
    kind = value.WhichOneof("value")
    if kind == "double_value" and math.isnan(value.double_value):
        value.double_value = math.nan
    elif kind == "array_value":
        for inner in value.array_value.values:
            _canonical_nans(inner)
    elif kind == "kvlist_value":
        for pair in value.kvlist_value.values:
            _canonical_nans(pair.value)


def as_sent(message: LogRecord | Resource) -> bytes:
    """``message`` as it can come back, serialized: its NaNs canonical (module docstring)."""
    copy = type(message).FromString(message.SerializeToString())
    if isinstance(copy, LogRecord) and copy.HasField("body"):
        _canonical_nans(copy.body)
    for pair in copy.attributes:
        _canonical_nans(pair.value)
    return copy.SerializeToString()


def _entries(request: ExportLogsServiceRequest) -> list[dict[str, Any]]:
    by_log, refused = routed_entries(request, "otlp-grpc", None, Route(log="l"))
    assert not refused
    assert all(isinstance(entry, bytes) for entry in by_log["l"])
    return [orjson.loads(entry) for entry in by_log["l"] if isinstance(entry, bytes)]


@settings(max_examples=200, deadline=None)
@given(st.lists(log_records(), min_size=1, max_size=3),
       st.lists(st.tuples(st.text(max_size=4), values), max_size=3))
def test_each_entry_gives_back_the_log_record_resource_and_scope_sent(
        records: list[LogRecord], resource_attributes: list[tuple[str, AnyValue]]) -> None:
    for record in records:
        record.time_unix_nano = min(record.time_unix_nano, LAST_SECOND_OF_9999)
        record.observed_time_unix_nano = min(record.observed_time_unix_nano, LAST_SECOND_OF_9999)
    resource = Resource(attributes=[KeyValue(key=k, value=v) for k, v in resource_attributes],
                        dropped_attributes_count=len(resource_attributes))
    scope = InstrumentationScope(name="audit", version="1.2.3", dropped_attributes_count=1)
    request = ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=resource, scope_logs=[ScopeLogs(scope=scope, log_records=records)])])
    got = _entries(request)
    assert len(got) == len(records)
    for entry, record in zip(got, records, strict=True):
        assert record_back(entry).SerializeToString() == as_sent(record)
        back = json_format.ParseDict(entry["record"]["resource"], Resource())
        assert back.SerializeToString() == as_sent(resource)
        assert json_format.ParseDict(entry["record"]["scope"], InstrumentationScope()) == scope


def test_a_nan_comes_back_as_the_nan_of_json() -> None:
    other_nan = struct.unpack("<d", struct.pack("<Q", 0xFFF0_0000_0000_0001))[0]  # sign, payload
    assert math.isnan(other_nan)
    record = LogRecord(body=AnyValue(double_value=other_nan))
    [entry] = _entries(ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        scope_logs=[ScopeLogs(log_records=[record])])]))
    assert entry["record"]["log_record"]["body"] == {"doubleValue": "NaN"}
    assert record_back(entry).SerializeToString() != record.SerializeToString()
    assert record_back(entry).SerializeToString() == as_sent(record)
