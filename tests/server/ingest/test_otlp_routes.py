"""Routing is per listener: ``[ingest.otlp.grpc]`` replaces ``[ingest.otlp]``'s route for the
gRPC listener, while OTLP/HTTP, without a table of its own, keeps the shared route
(docs/ingestion.md, "Which log")."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from tests.server.ingest.conftest import entries, ingest_url, size_of
from tests.servers import RunningServer, running, write_server_config

SHARED = "routes.example/shared"
GRPC = "routes.example/grpc"
NAMED = "routes.example/named"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = write_server_config(tmp_path_factory.mktemp("routes"), (SHARED, GRPC, NAMED))
    with config.open("a") as f:
        f.write(f'\n[ingest]\nhttp_listen = "127.0.0.1:0"\n'
                f'[ingest.otlp]\nlog = "{SHARED}"\nlog_attribute = "auditlog.log"\n'
                f'[ingest.otlp.grpc]\nlog = "{GRPC}"\n')
    yield from running(config)


def _request(body: str, log: str | None = None) -> bytes:
    resource_logs = ResourceLogs(scope_logs=[ScopeLogs(log_records=[
        LogRecord(time_unix_nano=1, body=AnyValue(string_value=body))])])
    if log is not None:
        resource_logs.resource.attributes.append(
            KeyValue(key="auditlog.log", value=AnyValue(string_value=log)))
    return ExportLogsServiceRequest(resource_logs=[resource_logs]).SerializeToString()


def _by_grpc(server: RunningServer, body: bytes) -> ExportLogsServiceResponse:
    with grpc.insecure_channel(server.address) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                                     response_deserializer=ExportLogsServiceResponse.FromString)
        answer: ExportLogsServiceResponse = export(body, timeout=30)
    return answer


def _by_http(server: RunningServer, body: bytes) -> ExportLogsServiceResponse:
    request = urllib.request.Request(ingest_url(server) + "/v1/logs", data=body, method="POST",
                                     headers={"Content-Type": "application/x-protobuf"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return ExportLogsServiceResponse.FromString(response.read())


Send = Callable[[RunningServer, bytes], ExportLogsServiceResponse]


def _landed(server: RunningServer, send: Send, body: str, log: str | None = None) -> str:
    """The log where the record ``body`` sent by ``send`` landed (each log checked)."""
    before = {origin: size_of(server, origin) for origin in (SHARED, GRPC, NAMED)}
    answer = send(server, _request(body, log))
    assert answer.partial_success.rejected_log_records == 0
    [(origin, entry)] = [(o, e) for o in before for e in entries(server, o, before[o])]
    assert entry["record"]["log_record"]["body"] == {"stringValue": body}
    return origin


def test_each_transport_lands_in_its_listeners_default_log(server: RunningServer) -> None:
    assert _landed(server, _by_grpc, "by grpc") == GRPC
    assert _landed(server, _by_http, "by http") == SHARED


def test_a_listeners_own_route_replaces_the_shared_one_whole(server: RunningServer) -> None:
    # HTTP routes by the shared route's attribute; the gRPC route has none, so its default wins.
    assert _landed(server, _by_http, "named, by http", NAMED) == NAMED
    assert _landed(server, _by_grpc, "named, by grpc", NAMED) == GRPC
