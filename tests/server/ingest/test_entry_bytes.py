"""The exact entry bytes each source writes for fixed inputs (docs/ingestion.md, "The entry"),
through a real ``auditlog serve``: auditors decode these bytes, so a faster conversion must
write the same ones. ``pinned_entries.json`` was written by the conversion before it was made
faster and must never be regenerated to make this test pass."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from auditlog_tlog.proto import auditlog_pb2 as pb
from tests.server.ingest.conftest import ingest_url
from tests.server.ingest.producers import listener_port, wait_for
from tests.servers import RunningServer, running, write_server_config

LOG = "pin.example/log"
PINNED = Path(__file__).with_name("pinned_entries.json")
EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
OFFERS = b"relp_version=0\nrelp_software=test\ncommands=syslog"


def _kv(key: str, value: AnyValue | None = None) -> KeyValue:
    return KeyValue(key=key) if value is None else KeyValue(key=key, value=value)


def _s(text: str) -> AnyValue:
    return AnyValue(string_value=text)


def pin_request() -> ExportLogsServiceRequest:
    """Records that exercise every LogRecord field, every AnyValue kind and every search-field
    rule (ranks, duplicates, empty values, fallbacks)."""
    full = LogRecord(
        time_unix_nano=1_764_467_100_123_456_789, observed_time_unix_nano=1_764_467_101_000_000_000,
        severity_number=SeverityNumber.SEVERITY_NUMBER_INFO, severity_text="INFO",
        body=_s("invoice 7 deleted: héllo ✓ \"q\" \\ \n"),
        attributes=[
            _kv("enduser.id", _s("bob")), _kv("user.id", _s("alice")), _kv("user.id", _s("eve")),
            _kv("event.name", _s("invoice.delete")), _kv("url.full", _s("https://x.example/i/7")),
            _kv("url.path", _s("/i/7")), _kv("http.response.status_code", AnyValue(int_value=200)),
            _kv("ratio", AnyValue(double_value=1.5)), _kv("ok", AnyValue(bool_value=True)),
            _kv("blob", AnyValue(bytes_value=b"\x00\xff\x10")),
            _kv("list", AnyValue(array_value=ArrayValue(values=[_s("a"), AnyValue(int_value=-3),
                                                                 AnyValue()]))),
            _kv("map", AnyValue(kvlist_value=KeyValueList(values=[_kv("k", _s("v")), _kv("n")]))),
            _kv("empty", AnyValue()), _kv("novalue"), _kv("", _s("nameless")),
            _kv("emptylist", AnyValue(array_value=ArrayValue())),
            _kv("emptymap", AnyValue(kvlist_value=KeyValueList())),
        ],
        dropped_attributes_count=2, flags=1, trace_id=bytes(range(16)), span_id=bytes(range(8, 16)),
        event_name="invoice.delete.event",
    )
    observed_only = LogRecord(
        observed_time_unix_nano=1_764_467_102_500_000_000,
        body=AnyValue(kvlist_value=KeyValueList(values=[_kv("who", _s("carol"))])),
        attributes=[
            _kv("auditlog.outcome", AnyValue(bool_value=False)),
            _kv("event.outcome", _s("ignored: a better key came first")),
            _kv("nan", AnyValue(double_value=float("nan"))),
            _kv("inf", AnyValue(double_value=float("inf"))),
            _kv("neg", AnyValue(double_value=float("-inf"))),
            _kv("auditlog.actor", AnyValue(double_value=2.0)),
            _kv("auditlog.resource", AnyValue(array_value=ArrayValue(values=[_s("not scalar")]))),
            _kv("db.collection.name", _s("invoices")),
        ],
        event_name="fallback.action",
    )
    empty_action = LogRecord(
        time_unix_nano=1_000_000_000,
        attributes=[_kv("auditlog.action", _s("")), _kv("user.name", AnyValue(int_value=2**63 - 1)),
                    _kv("event.outcome", AnyValue(double_value=float("-inf")))],
    )
    first = ResourceLogs(
        resource=Resource(attributes=[_kv("service.name", _s("billing")),
                                      _kv("host.count", AnyValue(int_value=3))],
                          dropped_attributes_count=1),
        schema_url="https://opentelemetry.io/schemas/1.21.0",
        scope_logs=[
            ScopeLogs(scope=InstrumentationScope(name="audit", version="1.2.3",
                                                 attributes=[_kv("lib", _s("x"))]),
                      schema_url="https://scope.example/1", log_records=[full, observed_only]),
            ScopeLogs(log_records=[empty_action, LogRecord()]),
        ],
    )
    second = ResourceLogs(scope_logs=[ScopeLogs(log_records=[LogRecord(
        time_unix_nano=1, body=AnyValue(bytes_value=b"\x01binary"),
        attributes=[_kv("zero", AnyValue(double_value=-0.0)), _kv("big", AnyValue(double_value=1e300)),
                    _kv("small", AnyValue(double_value=5e-324)), _kv("int", AnyValue(int_value=-5))],
    )])])
    return ExportLogsServiceRequest(resource_logs=[first, second])


SYSLOG = [
    b'<165>1 2026-11-30T02:45:00.003+01:00 host.example app 4242 ID47 [audit@1 actor="alice" '
    b'action="delete" resource="doc/7" outcome="success"][x@1 q="a\\"b\\\\c\\]d" e="\\n"] '
    b"\xef\xbb\xbfmessage \xc3\xa9",
    b"<14>1 - - - - - -",
    b"<14>1 2026-11-30T01:45:00Z h a p m - plain message\n",
    b"<13>2026-11-30T01:45:00.5+00:00 web nginx[12]: GET /x 200",
    b"<13>hello without a header",
    b"<13>1 2026-11-30T01:45:00Z h a - - - bad \xff utf-8",
]


@pytest.fixture(scope="module", params=[0, 1], ids=["in-process", "one-worker"])
def server(tmp_path_factory: pytest.TempPathFactory,
           request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """The same bytes whether the server converts or its conversion worker does."""
    config = write_server_config(tmp_path_factory.mktemp("pin"), (LOG,))
    with config.open("a") as f:
        f.write(f"""
[ingest]
http_listen = "127.0.0.1:0"
workers = {request.param}
[ingest.otlp]
log = "{LOG}"
[ingest.kubernetes]
log = "{LOG}"
[[ingest.syslog]]
listen = "127.0.0.1:0"
transport = "tcp"
log = "{LOG}"
[[ingest.syslog]]
listen = "127.0.0.1:0"
transport = "relp"
log = "{LOG}"
""")
    yield from running(config)


def _raw_entries(server: RunningServer, begin: int) -> list[bytes]:
    stub = server.stub()
    size = stub.GetLogInfo(pb.GetLogInfoRequest(log=LOG)).size
    got: list[bytes] = []
    for page in stub.GetEntries(pb.GetEntriesRequest(log=LOG, begin=begin, end=size)):
        got += list(page.entries)
    return got


def _size(server: RunningServer) -> int:
    return int(server.stub().GetLogInfo(pb.GetLogInfoRequest(log=LOG)).size)


def _pinned(source: str) -> list[bytes]:
    return [e.encode() for e in json.loads(PINNED.read_text())[source]]


def test_otlp_grpc_entries_are_the_pinned_bytes(server: RunningServer) -> None:
    begin = _size(server)
    with grpc.insecure_channel(server.address) as channel:
        call = channel.unary_unary(EXPORT, response_deserializer=ExportLogsServiceResponse.FromString)
        answer = call(pin_request().SerializeToString(), timeout=30)
    assert answer.partial_success.rejected_log_records == 0
    assert _raw_entries(server, begin) == _pinned("otlp-grpc")


def test_otlp_http_entries_are_the_pinned_bytes(server: RunningServer) -> None:
    begin = _size(server)
    _post(server, "/v1/logs", pin_request().SerializeToString(), "application/x-protobuf")
    assert _raw_entries(server, begin) == _pinned("otlp-http")


def test_kubernetes_entries_are_the_pinned_bytes(server: RunningServer) -> None:
    begin = _size(server)
    body = Path(__file__).with_name("k8s_eventlist.json").read_bytes()
    _post(server, "/k8s/audit", body, "application/json")
    assert _raw_entries(server, begin) == _pinned("k8s-audit")


def _post(server: RunningServer, path: str, body: bytes, content_type: str) -> None:
    """POST ``body`` to the ingestion listener; the answer must be 200 (all durable)."""
    sent = urllib.request.Request(ingest_url(server) + path, data=body, method="POST",
                                  headers={"Content-Type": content_type})
    with urllib.request.urlopen(sent, timeout=30) as response:
        assert response.status == 200


def test_syslog_tcp_entries_are_the_pinned_bytes(server: RunningServer) -> None:
    begin = _size(server)
    with socket.create_connection(("127.0.0.1", listener_port(server, "syslog-tcp")), timeout=10) as conn:
        conn.sendall(b"".join(b"%d %s" % (len(m), m) for m in SYSLOG))
    want = _pinned("syslog-tcp")
    wait_for(lambda: _size(server) >= begin + len(want), 20, "the syslog messages")
    assert _raw_entries(server, begin) == want


def test_relp_entries_are_the_pinned_bytes(server: RunningServer) -> None:
    begin = _size(server)
    with socket.create_connection(("127.0.0.1", listener_port(server, "relp")), timeout=10) as conn:
        conn.sendall(b"1 open %d %s\n" % (len(OFFERS), OFFERS))
        conn.sendall(b"".join(b"%d syslog %d %s\n" % (i + 2, len(m), m) for i, m in enumerate(SYSLOG)))
        answers = b""
        while answers.count(b" rsp ") < len(SYSLOG) + 1:
            chunk = conn.recv(65536)
            assert chunk, answers
            answers += chunk
    assert answers.count(b" 200 OK") == len(SYSLOG) + 1
    assert _raw_entries(server, begin) == _pinned("relp")
