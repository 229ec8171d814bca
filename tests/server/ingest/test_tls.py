"""Ingestion over TLS: the Kubernetes webhook and OTLP/HTTP on the ingest listener (client
certificate optional: certificate or token), OTLP/gRPC on the log's mTLS listener, each
producer identified by its certificate as for gRPC appends."""

from __future__ import annotations

import ssl
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.proto import auditlog_pb2_grpc as pb_grpc
from tests.server.certs import CA
from tests.server.ingest.conftest import ORIGIN, TOKEN, ingest_config, ingest_url
from tests.server.ingest.test_kubernetes import EVENTS, post_events
from tests.servers import RunningServer, running


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, CA, Path]]:
    directory = tmp_path_factory.mktemp("ingest-tls")
    ca = CA()
    (directory / "ca.pem").write_bytes(ca.pem)
    ca.issue("127.0.0.1", server=True).write(directory, "server")
    config = ingest_config(directory, extra_server=(
        '[server.tls]\ncert_file = "server.pem"\nkey_file = "server.key"\nclient_ca_file = "ca.pem"\n'))
    for server in running(config):
        yield server, ca, directory


def test_the_webhook_identifies_the_apiserver_by_certificate_or_token(
        tls_server: tuple[RunningServer, CA, Path]) -> None:
    server, ca, directory = tls_server
    url = ingest_url(server)
    assert url.startswith("https://")
    cert, key = ca.issue("collector.internal").write(directory, "apiserver")
    context = ssl.create_default_context(cafile=directory / "ca.pem")
    context.load_cert_chain(cert, key)
    status, text = post_events(url, EVENTS, token=None, context=context)
    assert (status, text.strip()) == (200, "4 events stored")
    plain = ssl.create_default_context(cafile=directory / "ca.pem")
    assert post_events(url, EVENTS, token=TOKEN, context=plain)[0] == 200
    assert post_events(url, EVENTS, token=None, context=plain)[0] == 401
    stranger, stranger_key = CA("another CA").issue("collector.internal").write(directory, "stranger")
    context = ssl.create_default_context(cafile=directory / "ca.pem")
    context.load_cert_chain(stranger, stranger_key)
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        post_events(url, EVENTS, token=None, context=context)


def test_the_sdk_grpc_exporter_over_mutual_tls(tls_server: tuple[RunningServer, CA, Path]) -> None:
    server, ca, _ = tls_server
    pair = ca.issue("collector.internal")
    credentials = grpc.ssl_channel_credentials(ca.pem, pair.key_pem, pair.cert_pem)
    with grpc.secure_channel(server.address, credentials) as channel:
        stub = pb_grpc.LogStub(channel)
        before = stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN)).size
        provider = LoggerProvider()
        provider.add_log_record_processor(BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=server.address, credentials=credentials)))
        for i in range(20):
            provider.get_logger("mtls").emit(body=f"over mTLS {i}")
        assert provider.force_flush(30_000)
        provider.shutdown()
        after = stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN)).size
        assert after == before + 20
        [page] = stub.GetEntries(pb.GetEntriesRequest(log=ORIGIN, begin=before, end=before + 1))
        assert b'"source":{"principal":"collector","transport":"otlp-grpc"}' in page.entries[0]
