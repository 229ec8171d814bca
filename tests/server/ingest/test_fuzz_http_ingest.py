"""What a hostile or broken client sends to the ingestion HTTP listener (OTLP/HTTP and the
Kubernetes webhook) of a real server: a precise 4xx saying what was wrong, and no entry."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
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


@pytest.mark.parametrize(("body", "says"), [
    (b'{"resourceLogs": 5}', b"resourceLogs: got a number, want an array"),
    (b'[{"resourceLogs": []}]', b"body: got an array, want an object"),
    (b'{"resourceLogs": [5]}', b"resourceLogs[0]: got a number, want an object"),
    (b'{"resourceLogs": [{"scopeLogs": "x"}]}', b"resourceLogs[0].scopeLogs: got a string, want an array"),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [null]}]}]}',
     b"resourceLogs[0].scopeLogs[0].logRecords[0]: got null, want an object"),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"attributes": {}}]}]}]}',
     b"logRecords[0].attributes: got an object, want an array"),
    (otlp({**RECORD, "traceId": 5}), b"logRecords[0].traceId: got '5', want hex digits"),
    (otlp({**RECORD, "spanId": "zz"}), b"logRecords[0].spanId: got 'zz', want hex digits"),
    (otlp({**RECORD, "spanId": "00 11"}), b"logRecords[0].spanId: got '00 11', want hex digits"),
])
def test_an_otlp_json_document_of_the_wrong_shape_says_where(server: RunningServer, body: bytes,
                                                             says: bytes) -> None:
    # These were answered 400 with Python's words for the failure ("'int' object is not
    # iterable"), which say nothing of the member that is wrong.
    before = size_of(server, ORIGIN)
    status, _, answer = post(server, "/v1/logs", body, [])
    assert status == 400 and says in answer, answer
    assert size_of(server, ORIGIN) == before


def test_an_empty_trace_id_is_no_trace(server: RunningServer) -> None:
    before = size_of(server, ORIGIN)
    status, _, answer = post(server, "/v1/logs", otlp({**RECORD, "traceId": "", "spanId": "",
                                                        "severityText": "no trace"}), [])
    assert status == 200, answer
    assert size_of(server, ORIGIN) == before + 1


def raw_request(url: str, request: bytes) -> tuple[int, bytes]:
    """``request`` sent as is on a new connection; the status and body of the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(request)
        answer = b""
        while piece := conn.recv(65536):
            answer += piece
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize("token", [b"\xff\xfe", b"caf\xc3\xa9", b"\xed\xa0\x80", b"\x80" * 64])
def test_a_bearer_token_that_is_not_ascii_is_401_everywhere(server: RunningServer,
                                                           token: bytes) -> None:
    # Bytes that are not UTF-8 came to the token's hash as lone surrogates: 500.
    auth = b"Authorization: Bearer " + token + b"\r\n"
    for url, method, path in ((server.tiles_url, b"GET", b"/api/v1/logs"),
                              (server.tiles_url, b"GET", f"/{K8S}/checkpoint".encode()),
                              (server.tiles_url, b"GET", b"/api/v1/search?log=" + K8S.encode()),
                              (ingest_url(server), b"POST", b"/v1/logs")):
        status, body = raw_request(url, method + b" " + path + b" HTTP/1.1\r\nHost: x\r\n"
                                   b"Content-Type: application/json\r\nContent-Length: 2\r\n"
                                   b"Connection: close\r\n" + auth + b"\r\n{}")
        assert status == 401 and b"unknown bearer token" in body, (path, status, body)


def _event_list(**fields: Any) -> bytes:
    event = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "fuzz-1",
             "stage": "ResponseComplete", **fields}
    return json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
                       "items": [event]}).encode()


@pytest.mark.parametrize(("fields", "says"), [
    ({"stageTimestamp": ""}, b"items[0].stageTimestamp: got '', want RFC 3339"),
    ({"stageTimestamp": "", "requestReceivedTimestamp": "2026-11-30T01:00:00Z"},
     b"items[0].stageTimestamp: got '', want RFC 3339"),
    ({"requestReceivedTimestamp": ""}, b"items[0].requestReceivedTimestamp: got '', want RFC 3339"),
    ({"requestReceivedTimestamp": 5}, b"items[0].requestReceivedTimestamp: got '5', want RFC 3339"),
])
def test_an_event_with_an_empty_time_is_refused(server: RunningServer, fields: dict[str, Any],
                                                says: bytes) -> None:
    # An empty stageTimestamp was taken as no time at all (or the other stamp, unchecked).
    status, _, answer = post(server, "/k8s/audit", _event_list(**fields), [])
    assert status == 400 and says in answer, answer
    assert size_of(server, K8S) == 0


def test_every_401_says_which_credential_it_wants(server: RunningServer) -> None:
    # RFC 9110 §11.6.1: a 401 must carry WWW-Authenticate; none of them did.
    requests = [(server.tiles_url, b"GET /api/v1/logs"),
                (server.tiles_url, f"GET /{K8S}/checkpoint".encode()),
                (server.tiles_url, b"GET /api/v1/search?log=" + K8S.encode()),
                (ingest_url(server), b"POST /v1/logs")]
    for url, line in requests:
        for auth in (b"", b"Authorization: Bearer nope\r\n", b"Authorization: Basic eDp5\r\n"):
            host, port = url.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port)), timeout=30) as conn:
                conn.sendall(line + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: " + str(len(otlp(RECORD))).encode() +
                             b"\r\nConnection: close\r\n" + auth + b"\r\n" + otlp(RECORD))
                answer = b""
                while piece := conn.recv(65536):
                    answer += piece
            head = answer.partition(b"\r\n\r\n")[0].lower()
            assert head.startswith(b"http/1.1 401 "), (line, auth, head)
            assert b'\r\nwww-authenticate: bearer realm="auditlog"' in head, (line, auth, head)


@pytest.mark.parametrize(("path", "content_type"), [
    ("/v1/logs", "text/plain"), ("/v1/logs", "application/octet-stream"),  # what none means
    ("/v1/logs", "application/jsonx"), ("/k8s/audit", "application/x-protobuf"),
    ("/k8s/audit", "multipart/form-data; boundary=x"),
])
def test_a_content_type_the_route_does_not_take_is_415(server: RunningServer, path: str,
                                                       content_type: str) -> None:
    # It was 400, the status of a body that does not parse; RFC 9110 §15.5.16 has 415 for a
    # format the resource does not take.
    before = size_of(server, ORIGIN)
    status, _, answer = post(server, path, otlp(RECORD), [], content_type)
    assert status == 415 and answer.startswith(b"Content-Type ") and b", want application/" in answer
    assert size_of(server, ORIGIN) == before and size_of(server, K8S) == 0


def test_a_content_type_with_parameters_is_taken(server: RunningServer) -> None:
    status, _, answer = post(server, "/v1/logs", otlp({**RECORD, "severityText": "charset"}), [],
                             "application/json; charset=utf-8")
    assert status == 200, answer
