"""The bound on an ingestion request is ``[ingest] max_request_bytes``, or ``[server]
max_inflight_bytes`` when that is lower (a request is held whole in the byte budget), and a
refusal names the setting that set it (docs/ingestion.md, "Limits")."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.server.ingest.config import request_bound
from tests.server.ingest.conftest import ingest_url
from tests.servers import RunningServer, running, write_server_config

ORIGIN = "bound.example/app"
INFLIGHT = 2 * 1024 * 1024
BETWEEN = 3 * 1024 * 1024  # above max_inflight_bytes, below [ingest] max_request_bytes
SAYS = (f"want at most {INFLIGHT} bytes ([server] max_inflight_bytes, lower than [ingest] "
        "max_request_bytes)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("bound")
    config = write_server_config(directory, (ORIGIN,), extra_server=(
        f"max_request_bytes = 1048576\nmax_inflight_bytes = {INFLIGHT}\n"))
    with config.open("a") as f:
        f.write(f'\n[ingest]\nhttp_listen = "127.0.0.1:0"\nmax_request_bytes = {2 * BETWEEN}\n'
                f'[ingest.otlp]\nlog = "{ORIGIN}"\n[ingest.kubernetes]\nlog = "{ORIGIN}"\n')
    yield from running(config)


def _post(server: RunningServer, path: str, body: bytes, content_type: str) -> tuple[int, str]:
    request = urllib.request.Request(ingest_url(server) + path, data=body, method="POST",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def test_the_bound_names_the_setting_that_sets_it() -> None:
    assert request_bound(4096, 2048).want() == (
        "want at most 2048 bytes ([server] max_inflight_bytes, lower than [ingest] "
        "max_request_bytes)")
    assert request_bound(2048, 2048).want() == "want at most 2048 bytes ([ingest] max_request_bytes)"


@pytest.mark.parametrize(("path", "content_type"), [
    ("/v1/logs", "application/x-protobuf"), ("/v1/logs", "application/json"),
    ("/k8s/audit", "application/json"),
])
def test_a_body_between_the_budget_and_max_request_bytes_is_refused_naming_the_budget(
        server: RunningServer, path: str, content_type: str) -> None:
    status, text = _post(server, path, b"\0" * BETWEEN, content_type)
    assert (status, text.strip()) == (413, f"body of {BETWEEN} bytes, {SAYS}")
    # Below the budget the size is taken, and the body is refused for what it is.
    status, text = _post(server, path, b"\xff" * (INFLIGHT - 1024), content_type)
    assert status == 400 and "want at most" not in text


def test_grpc_itself_refuses_an_export_beyond_its_receive_limit(server: RunningServer) -> None:
    # The gRPC receive limit is the bound here (docs/ingestion.md, "Limits"): grpc answers
    # before the handler, with its own message.
    with grpc.insecure_channel(server.address) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        with pytest.raises(grpc.RpcError) as caught:
            export(b"\0" * BETWEEN, timeout=30)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"{BETWEEN} vs. {INFLIGHT}" in (caught.value.details() or "")


def test_the_config_keeps_max_request_bytes_as_written(tmp_path: Path) -> None:
    from auditlog_tlog.server.config import parse_config

    text = write_server_config(tmp_path, (ORIGIN,), extra_server=(
        f"max_request_bytes = 1048576\nmax_inflight_bytes = {INFLIGHT}\n")).read_text()
    config = parse_config(text + f"\n[ingest]\nmax_request_bytes = {BETWEEN}\n", tmp_path)
    assert config.ingest.max_request_bytes == BETWEEN
    bound = request_bound(config.ingest.max_request_bytes, config.max_inflight_bytes)
    assert bound.size == INFLIGHT
