"""One log server (``auditlog serve`` on 127.0.0.1) with OTLP and the Kubernetes webhook on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.security import hash_token
from tests.servers import RunningServer, running, write_server_config

ORIGIN = "ingest.example/app"
OTHER = "ingest.example/other"
K8S = "ingest.example/k8s"
TOKEN = "collector-token"
READER = "reader-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
_INGEST_LINE = re.compile(r"ingest on (https?://127\.0\.0\.1:\d+)/")


def ingest_config(directory: Path, extra_server: str = "") -> Path:
    config = write_server_config(directory, (ORIGIN, OTHER, K8S), extra_log="max_entry_bytes = 4096",
                                 extra_server=extra_server)
    with config.open("a") as f:
        f.write(f"""
[[principal]]
name = "collector"
token_sha256 = "{hash_token(TOKEN)}"
cert_names = ["collector.internal"]
roles = {{ "{ORIGIN}" = ["append", "read"], "{OTHER}" = ["append", "read"], "{K8S}" = ["admin"] }}

[[principal]]
name = "reader"
token_sha256 = "{hash_token(READER)}"
roles = {{ "{ORIGIN}" = ["read"], "{K8S}" = ["read"] }}

[ingest]
http_listen = "127.0.0.1:0"
max_request_bytes = 1048576

[ingest.otlp]
log = "{ORIGIN}"
log_attribute = "auditlog.log"

[ingest.kubernetes]
log = "{K8S}"
""")
    return config


def ingest_url(server: RunningServer) -> str:
    for line in server.output:
        if m := _INGEST_LINE.search(line):
            return m.group(1)
    raise AssertionError("no ingest line in:\n" + "".join(server.output))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from running(ingest_config(tmp_path_factory.mktemp("ingest")))


def entries(server: RunningServer, log: str, begin: int = 0) -> list[dict[str, Any]]:
    """Every entry of ``log`` from ``begin`` on, decoded."""
    stub = server.stub()
    size = stub.GetLogInfo(pb.GetLogInfoRequest(log=log), metadata=AUTH).size
    if size <= begin:
        return []
    got: list[dict[str, Any]] = []
    for page in stub.GetEntries(pb.GetEntriesRequest(log=log, begin=begin, end=size), metadata=AUTH):
        got += [json.loads(e) for e in page.entries]
    return got


def size_of(server: RunningServer, log: str) -> int:
    return int(server.stub().GetLogInfo(pb.GetLogInfoRequest(log=log), metadata=AUTH).size)
