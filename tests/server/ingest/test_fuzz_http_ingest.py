"""What a hostile or broken client sends to the ingestion HTTP listener (OTLP/HTTP and the
Kubernetes webhook) of a real server: a precise 4xx saying what was wrong, and no entry."""

from __future__ import annotations

import gzip
import http.client
import json
from typing import Any

import pytest

from tests.server.ingest.conftest import K8S, ORIGIN, TOKEN, ingest_url, size_of
from tests.servers import RunningServer

RECORD = {"timeUnixNano": "1700000000000000000", "body": {"stringValue": "fuzz"}}


def post(server: RunningServer, path: str, body: bytes, headers: list[tuple[str, str]],
         content_type: str = "application/json") -> tuple[int, dict[str, str], bytes]:
    """POST with ``headers`` as given (a name may repeat); status, headers, body."""
    host, port = ingest_url(server).removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("POST", path)
        for name, value in [("Content-Type", content_type), ("Authorization", f"Bearer {TOKEN}"),
                            ("Content-Length", str(len(body))), *headers]:
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def otlp(*records: dict[str, Any]) -> bytes:
    return json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": list(records)}]}]}).encode()


@pytest.mark.parametrize(("codings", "body"), [
    (["br"], otlp(RECORD)),
    (["zstd"], otlp(RECORD)),
    (["x-gzip"], gzip.compress(otlp(RECORD))),
    (["gzip, gzip"], otlp(RECORD)),  # a list aiohttp does not undo: the raw body was stored
    (["compress"], otlp(RECORD)),
    (["identity", "gzip"], otlp(RECORD)),
])
def test_a_content_coding_that_is_not_undone_is_415(server: RunningServer, codings: list[str],
                                                     body: bytes) -> None:
    before = size_of(server, ORIGIN)
    status, headers, answer = post(server, "/v1/logs", body,
                                   [("Content-Encoding", c) for c in codings])
    assert status == 415, answer
    assert answer.startswith(b"Content-Encoding ") and b"want one of gzip, deflate or identity" in answer
    assert headers["Accept-Encoding"] == "gzip, deflate"
    status, _, answer = post(server, "/k8s/audit", body, [("Content-Encoding", c) for c in codings])
    assert status == 415, answer
    assert size_of(server, ORIGIN) == before and size_of(server, K8S) == 0


def test_the_codings_undone_are_taken(server: RunningServer) -> None:
    before = size_of(server, ORIGIN)
    for coding, body in (("GZIP", gzip.compress(otlp({**RECORD, "severityText": "a"}))),
                         ("identity", otlp({**RECORD, "severityText": "b"}))):
        status, _, answer = post(server, "/v1/logs", body, [("Content-Encoding", coding)])
        assert status == 200, answer
    assert size_of(server, ORIGIN) == before + 2
