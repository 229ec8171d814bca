"""OTLP logs from the real OpenTelemetry Python SDK (batch processor, gRPC and HTTP exporters)
and hand-made OTLP/HTTP requests, against ``auditlog serve`` on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import math
import urllib.error
import urllib.request
from typing import Any

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import (
    SEVERITY_NUMBER_FATAL4,
    LogRecord,
    ResourceLogs,
    ScopeLogs,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.resources import Resource

from tests.server.ingest.conftest import (
    ORIGIN,
    OTHER,
    READER,
    TOKEN,
    entries,
    ingest_url,
    size_of,
)
from tests.server.ingest.test_otlp_roundtrip import as_sent, record_back
from tests.servers import RunningServer

TRACE_ID = 0x5B8EFFF798038103D269B633813FC60C
SPAN_ID = 0xEEE19B7EC3C1B174
NOW_NS = 1_764_467_100_123_456_789


def _send_with_sdk(exporter: LogRecordExporter, tag: str, count: int) -> None:
    provider = LoggerProvider(resource=Resource.create({"service.name": "billing", "host.name": tag}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=64))
    logger = provider.get_logger("audit", "1.2.3")
    span = trace.NonRecordingSpan(trace.SpanContext(TRACE_ID, SPAN_ID, is_remote=False,
                                                    trace_flags=trace.TraceFlags(1)))
    context = trace.set_span_in_context(span)
    for i in range(count):
        logger.emit(timestamp=NOW_NS + i, severity_number=SeverityNumber.INFO, severity_text="INFO",
                    body=f"{tag} invoice {i} deleted", context=context, event_name="invoice.delete",
                    attributes={"user.id": "alice", "url.path": f"/invoices/{i}",
                                "event.outcome": "success", "n": i, "tags": ["a", "b"]})
    assert provider.force_flush(30_000)
    provider.shutdown()


def _check_sdk_entries(got: list[dict[str, Any]], tag: str, transport: str, count: int) -> None:
    mine = [e for e in got if {"key": "host.name", "value": {"stringValue": tag}}
            in e["record"]["resource"]["attributes"]]
    assert len(mine) == count
    first = mine[0]
    assert first["v"] == 1
    assert first["source"] == {"transport": transport, "principal": "collector"}
    assert first["fields"] == {"actor": "alice", "action": "invoice.delete",
                               "resource": "/invoices/0", "outcome": "success",
                               "time": "2025-11-30T01:45:00.123456789Z"}
    record = first["record"]["log_record"]
    assert record["body"] == {"stringValue": f"{tag} invoice 0 deleted"}
    assert record["timeUnixNano"] == str(NOW_NS)
    assert record["severityNumber"] == 9 and record["severityText"] == "INFO"
    assert record["traceId"] == f"{TRACE_ID:032x}" and record["spanId"] == f"{SPAN_ID:016x}"
    assert {"key": "tags", "value": {"arrayValue": {"values": [
        {"stringValue": "a"}, {"stringValue": "b"}]}}} in record["attributes"]
    assert first["record"]["scope"] == {"name": "audit", "version": "1.2.3"}
    # One entry per record the SDK sent, each with its own timestamp (that the entry gives the
    # LogRecord back, field for field: test_every_field_of_a_record_comes_back_from_its_entry).
    assert sorted(int(e["record"]["log_record"]["timeUnixNano"]) for e in mine) == [
        NOW_NS + i for i in range(count)]


def test_the_sdk_grpc_exporter_feeds_the_log(server: RunningServer) -> None:
    before = size_of(server, ORIGIN)
    exporter = GrpcExporter(endpoint=server.address, insecure=True,
                            headers={"authorization": f"Bearer {TOKEN}"})
    _send_with_sdk(exporter, "grpc-sdk", 150)
    assert size_of(server, ORIGIN) == before + 150
    _check_sdk_entries(entries(server, ORIGIN, before), "grpc-sdk", "otlp-grpc", 150)


def test_the_sdk_http_exporter_feeds_the_log_gzipped(server: RunningServer) -> None:
    before = size_of(server, ORIGIN)
    exporter = HttpExporter(endpoint=ingest_url(server) + "/v1/logs", compression=Compression.Gzip,
                            headers={"Authorization": f"Bearer {TOKEN}"})
    _send_with_sdk(exporter, "http-sdk", 70)
    assert size_of(server, ORIGIN) == before + 70
    _check_sdk_entries(entries(server, ORIGIN, before), "http-sdk", "otlp-http", 70)


def _request(*bodies: str, resource: dict[str, str] | None = None,
             attributes: dict[str, str] | None = None) -> ExportLogsServiceRequest:
    records = [LogRecord(time_unix_nano=NOW_NS, body=AnyValue(string_value=b),
                         attributes=[KeyValue(key=k, value=AnyValue(string_value=v))
                                     for k, v in (attributes or {}).items()])
               for b in bodies]
    resource_logs = ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])
    for k, v in (resource or {}).items():
        resource_logs.resource.attributes.append(KeyValue(key=k, value=AnyValue(string_value=v)))
    return ExportLogsServiceRequest(resource_logs=[resource_logs])


def _post(server: RunningServer, body: bytes, content_type: str = "application/x-protobuf",
          token: str | None = TOKEN, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(ingest_url(server) + "/v1/logs", data=body, method="POST",
                                     headers={"Content-Type": content_type, **(headers or {})})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def _full_records(tag: str) -> list[LogRecord]:
    """Records with every LogRecord field set, and values of every kind and extreme."""
    nested = AnyValue(kvlist_value=KeyValueList(values=[
        KeyValue(key="list", value=AnyValue(array_value=ArrayValue(values=[
            AnyValue(int_value=-(2**63)), AnyValue(double_value=math.nan),
            AnyValue(double_value=-math.inf), AnyValue(bytes_value=b"\x00\xff"), AnyValue()]))),
        KeyValue(key="empty"), KeyValue(key="", key_strindex=3,
                                        value=AnyValue(string_value_strindex=7))]))
    full = LogRecord(
        time_unix_nano=2**63 + 5, observed_time_unix_nano=NOW_NS, severity_number=SEVERITY_NUMBER_FATAL4,
        severity_text="FATAL4", body=nested, dropped_attributes_count=2**32 - 1,
        flags=2**32 - 1, trace_id=TRACE_ID.to_bytes(16, "big"), span_id=SPAN_ID.to_bytes(8, "big"),
        event_name=f"{tag}.event", attributes=[
            KeyValue(key="int.min", value=AnyValue(int_value=-(2**63))),
            KeyValue(key="int.max", value=AnyValue(int_value=2**63 - 1)),
            KeyValue(key="inf", value=AnyValue(double_value=math.inf)),
            KeyValue(key="nan", value=AnyValue(double_value=math.nan)),
            KeyValue(key="zero", value=AnyValue(double_value=-0.0)),
            KeyValue(key="bytes", value=AnyValue(bytes_value=bytes(range(256)))),
            KeyValue(key="bool", value=AnyValue(bool_value=False)),
            KeyValue(key="user.id", value=AnyValue(string_value="ünïcode ☃")),
            KeyValue(key="user.id", value=AnyValue(string_value="duplicate kept")),
            KeyValue(key="kv", value=nested)])
    sparse = LogRecord(observed_time_unix_nano=1, body=AnyValue(bytes_value=b"\x01"),
                       span_id=b"\xff", event_name=f"{tag}.sparse")
    return [full, sparse]


@pytest.mark.parametrize("transport", ["otlp-grpc", "otlp-http"])
def test_every_field_of_a_record_comes_back_from_its_entry(server: RunningServer,
                                                           transport: str) -> None:
    sent = _full_records(transport)
    request = ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        scope_logs=[ScopeLogs(log_records=sent)])])
    before = size_of(server, ORIGIN)
    if transport == "otlp-http":
        assert _post(server, request.SerializeToString())[0] == 200
    else:
        with grpc.insecure_channel(server.address) as channel:
            channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")(
                request.SerializeToString(), metadata=(("authorization", f"Bearer {TOKEN}"),),
                timeout=30)
    got = entries(server, ORIGIN, before)
    assert [e["source"]["transport"] for e in got] == [transport] * len(sent)
    assert [record_back(e).SerializeToString() for e in got] == [as_sent(r) for r in sent]


def test_an_identical_payload_again_adds_no_entry(server: RunningServer) -> None:
    body = _request("redelivered once", "redelivered twice").SerializeToString()
    assert _post(server, body)[0] == 200
    size = size_of(server, ORIGIN)
    status, answer = _post(server, body)
    assert status == 200
    assert ExportLogsServiceResponse.FromString(answer).partial_success.rejected_log_records == 0
    assert size_of(server, ORIGIN) == size


def test_otlp_json_with_hex_ids_is_taken_and_answered_in_json(server: RunningServer) -> None:
    before = size_of(server, ORIGIN)
    document = {"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "json"}}]}, "scopeLogs": [{"logRecords": [
            {"timeUnixNano": str(NOW_NS), "severityNumber": 17, "body": {"stringValue": "from json"},
             "traceId": f"{TRACE_ID:032x}", "spanId": f"{SPAN_ID:016x}", "futureField": 1}]}]}]}
    status, answer = _post(server, json.dumps(document).encode(), "application/json")
    assert status == 200 and json.loads(answer) == {}
    [entry] = entries(server, ORIGIN, before)
    assert entry["record"]["log_record"]["traceId"] == f"{TRACE_ID:032x}"
    assert entry["record"]["log_record"]["severityNumber"] == 17
    assert entry["source"]["transport"] == "otlp-http"


def test_a_record_too_large_is_reported_in_partial_success(server: RunningServer) -> None:
    before = size_of(server, ORIGIN)
    status, answer = _post(server, _request("fits", "x" * 5000).SerializeToString())
    assert status == 200
    partial = ExportLogsServiceResponse.FromString(answer).partial_success
    assert partial.rejected_log_records == 1
    assert "1 of 2 log records rejected" in partial.error_message
    assert "want at most 4096" in partial.error_message
    assert size_of(server, ORIGIN) == before + 1


def test_a_resource_attribute_routes_to_another_log(server: RunningServer) -> None:
    before = size_of(server, OTHER)
    assert _post(server, _request("routed", resource={"auditlog.log": OTHER}).SerializeToString())[0] == 200
    assert size_of(server, OTHER) == before + 1
    status, answer = _post(server, _request("lost", resource={"auditlog.log": "nope"}).SerializeToString())
    assert status == 404 and b"no log 'nope'" in answer


@pytest.mark.parametrize(("body", "content_type", "token", "status", "says"), [
    (b"\xff\xff\xff", "application/x-protobuf", TOKEN, 400, b"not a valid opentelemetry"),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]}',
     "application/json", TOKEN, 400, b"not valid OTLP/JSON"),
    (b"[" * 100_000, "application/json", TOKEN, 400, b"not valid OTLP/JSON"),
    (b"{}", "text/plain", TOKEN, 415, b"want application/x-protobuf"),
    (b"", "application/x-protobuf", None, 401, b"needs a credential"),
    (b"", "application/x-protobuf", "wrong", 401, b"unknown bearer token"),
])
def test_bad_http_requests_get_a_precise_answer(server: RunningServer, body: bytes, content_type: str,
                                                token: str | None, status: int, says: bytes) -> None:
    before = size_of(server, ORIGIN)
    got, answer = _post(server, body or _request("x").SerializeToString(), content_type, token)
    assert (got, says in answer) == (status, True), answer
    assert size_of(server, ORIGIN) == before


def test_a_reader_is_refused_and_nothing_is_stored(server: RunningServer) -> None:
    before = size_of(server, ORIGIN)
    status, answer = _post(server, _request("denied").SerializeToString(), token=READER)
    assert status == 403 and b"reader lacks the 'append' role" in answer
    assert size_of(server, ORIGIN) == before


def test_bodies_are_bounded_before_and_after_gunzip(server: RunningServer) -> None:
    status, answer = _post(server, b"\0" * 1_100_000)
    assert status == 413 and b"want at most 1048576" in answer
    bomb = gzip.compress(b"\0" * 2_000_000)
    status, answer = _post(server, bomb, headers={"Content-Encoding": "gzip"})
    assert status == 413 and b"inflates to more than" in answer
    status, answer = _post(server, b"not gzip", headers={"Content-Encoding": "gzip"})
    assert status == 400 and b"cannot be read" in answer


def test_bad_grpc_requests_get_a_precise_status(server: RunningServer) -> None:
    with grpc.insecure_channel(server.address) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        with pytest.raises(grpc.RpcError) as caught:
            export(b"\xff\xff", metadata=(("authorization", f"Bearer {TOKEN}"),), timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid opentelemetry" in caught.value.details()
        typed = channel.unary_unary(
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            request_serializer=ExportLogsServiceRequest.SerializeToString,
            response_deserializer=ExportLogsServiceResponse.FromString)
        for metadata, code in (((), grpc.StatusCode.UNAUTHENTICATED),
                               ((("authorization", f"Bearer {READER}"),), grpc.StatusCode.PERMISSION_DENIED)):
            with pytest.raises(grpc.RpcError) as caught:
                typed(_request("denied"), metadata=metadata, timeout=10)
            assert caught.value.code() == code


def test_ingestion_is_counted_in_metrics(server: RunningServer) -> None:
    _post(server, _request("counted").SerializeToString())
    with grpc.insecure_channel(server.address) as channel:
        channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")(
            _request("counted").SerializeToString(), metadata=(("authorization", f"Bearer {TOKEN}"),),
            timeout=10)
    _post(server, b"\xff", token=TOKEN)
    with urllib.request.urlopen(server.metrics_url, timeout=10) as response:
        text = response.read().decode()
    assert f'auditlog_ingest_records_total{{log="{ORIGIN}",transport="otlp-http"}}' in text
    assert 'auditlog_ingest_rejected_total{reason="malformed",transport="otlp-http"}' in text
    assert 'auditlog_requests_total{code="OK",method="Export"}' in text


def test_reflection_lists_the_logs_service(server: RunningServer) -> None:
    with grpc.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        [answer] = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for s in answer.list_services_response.service}
    assert "opentelemetry.proto.collector.logs.v1.LogsService" in names


def test_a_grpc_export_beyond_max_request_bytes_is_refused_naming_it(server: RunningServer) -> None:
    # Here the gRPC receive limit (the log's own AppendBatch, 16 MiB) is above [ingest]
    # max_request_bytes, so the handler refuses, before parsing.
    with grpc.insecure_channel(server.address) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        with pytest.raises(grpc.RpcError) as caught:
            export(b"\0" * 1_100_000, metadata=(("authorization", f"Bearer {TOKEN}"),), timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == ("Export request of 1100000 bytes, want at most 1048576 "
                                      "bytes ([ingest] max_request_bytes)")
