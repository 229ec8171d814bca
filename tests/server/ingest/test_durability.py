"""An answered Export or webhook POST is durable: SIGKILL the server the moment the producer
has its answer, start it again, and every record is there."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

from tests.server.ingest.conftest import K8S, ORIGIN, TOKEN, entries, ingest_config, ingest_url, size_of
from tests.servers import start_server


def test_answered_records_survive_a_sigkill(tmp_path: Path) -> None:
    config = ingest_config(tmp_path)
    server = start_server(config)
    try:
        provider = LoggerProvider()
        exporter = OTLPLogExporter(endpoint=server.address, insecure=True,
                                   headers={"authorization": f"Bearer {TOKEN}"})
        provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=100))
        logger = provider.get_logger("crash")
        for i in range(300):
            logger.emit(body=f"durable {i}", attributes={"i": i})
        assert provider.force_flush(30_000)  # every Export answered OK
        events = [{"auditID": f"id-{i}", "stage": "ResponseComplete", "verb": "get"} for i in range(50)]
        body = json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": events})
        request = urllib.request.Request(ingest_url(server) + "/k8s/audit", data=body.encode(),
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
    finally:
        server.kill()
    provider.shutdown()
    server = start_server(config)
    try:
        assert size_of(server, ORIGIN) == 300
        bodies = {e["record"]["log_record"]["body"]["stringValue"] for e in entries(server, ORIGIN)}
        assert bodies == {f"durable {i}" for i in range(300)}
        assert [e["record"]["auditID"] for e in entries(server, K8S)] == [f"id-{i}" for i in range(50)]
    finally:
        server.stop()
