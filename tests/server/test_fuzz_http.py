"""Hostile query strings on the tiles HTTP listener of a real server: the search API and the
console's read API. Whatever the query, the answer is a 2xx or a 4xx with a JSON ``error``
naming what was wrong, never a 5xx, and the log is unchanged.

The requests go out on a raw socket, byte for byte as written here: an HTTP client library
would quote or refuse what a hostile client sends as is.
"""

from __future__ import annotations

import json
import socket
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditlog_tlog.client.event import AuditEvent
from auditlog_tlog.proto import auditlog_pb2 as pb
from tests.servers import RunningServer, running, write_server_config

ORIGIN = "fuzz.example/log"
LOG = urllib.parse.quote(ORIGIN, safe="")
WHEN = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
SIZE = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("fuzz-http")
    config = write_server_config(directory, (ORIGIN,), extra_log="public_read = true")
    for running_server in running(config):
        events = [AuditEvent(actor=("alice", "bob")[i % 2], action="repo.read", resource=f"r{i}",
                             outcome="success", time=WHEN + timedelta(seconds=i),
                             attributes={"k": str(i)}).encode() for i in range(SIZE)]
        running_server.stub().AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=events))
        yield running_server


def get(server: RunningServer, target: bytes) -> tuple[int, bytes]:
    """``GET target`` sent as is; the status and the body of the answer."""
    host, port = server.tiles_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as conn:
        conn.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while piece := conn.recv(65536):
            answer += piece
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def error_of(status: int, body: bytes) -> str:
    """The ``error`` of a JSON 4xx answer (what the client is told was wrong)."""
    assert 400 <= status < 500, (status, body[:300])
    message: str = json.loads(body)["error"]
    return message


def size_of(server: RunningServer) -> int:
    return int(server.stub().GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN)).size)


@pytest.mark.parametrize("limit", ["%C2%B2", "%D9%A1", "%EF%BC%91", "9" * 5000])
def test_a_limit_not_in_ascii_digits_or_too_long_is_400(server: RunningServer, limit: str) -> None:
    # '²' passed str.isdigit() and int() refused it; 5000 digits passed and int() refused
    # them too: both were 500.
    status, body = get(server, f"/api/v1/search?log={LOG}&limit={limit}".encode())
    assert status == 400 and error_of(status, body).startswith("limit: got ")


def test_more_filters_than_the_grpc_search_allows_are_400(server: RunningServer) -> None:
    many = "&".join(f"attr.k{i}=v" for i in range(17))
    status, body = get(server, f"/api/v1/search?log={LOG}&{many}".encode())
    assert status == 400 and error_of(status, body) == "filters: got 17, want at most 16"
    status, _ = get(server, f"/api/v1/search?log={LOG}&{many.rsplit('&', 1)[0]}".encode())
    assert status == 200


@pytest.mark.parametrize("query", [f"log={LOG}&index=1&index=2", f"log={LOG}&log=x&index=1"])
def test_a_console_parameter_given_twice_is_400(server: RunningServer, query: str) -> None:
    # The first one was taken and the other ignored: which entry a client meant is unknown.
    status, body = get(server, f"/api/v1/entry?{query}".encode())
    assert status == 400 and "given twice, want it once" in error_of(status, body)


_NAMES = st.sampled_from(["log", "actor", "action", "resource", "outcome", "source", "principal",
                          "request_id", "attr.k", "attr.", "since", "until", "order", "limit",
                          "cursor", "index", "begin", "size1", "size2", "x"])
_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from([ORIGIN, "-1", "0", "00", "1", "18446744073709551615", "18446744073709551616",
                     "9" * 30, "1e3", "0x10", "²", "*", "**", "a*", "%", "%00", "%FF%FE", "%C0%80",
                     "2026-11-03T12:00:00Z", "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z",
                     "2026-11-03T12:00:00.1234567890Z", "2026-02-30T00:00:00Z", "newest",
                     "AQAAAAAAAAAMAAAAAAAAAAwAAAAAAAAAAA", "=" * 10]),
)
_QUERIES = st.lists(st.tuples(_NAMES, _VALUES), max_size=6)


_RAW = frozenset({"%", "%00", "%FF%FE", "%C0%80"})  # sent as they are: raw (bad) escapes


def _query(pairs: list[tuple[str, str]]) -> str:
    # Values are quoted but for the raw escapes among the samples. A generated text that starts
    # with '%' is quoted too: unquoted, its control characters would make the request line
    # itself invalid HTTP, which aiohttp's parser refuses (400, plain text) before any handler.
    return "&".join(f"{name}={value if value in _RAW else urllib.parse.quote(value)}"
                    for name, value in pairs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=_QUERIES, path=st.sampled_from(["search", "entry", "checkpoints", "consistency",
                                             "logs"]))
def test_any_query_is_answered_2xx_or_a_4xx_that_says_why(server: RunningServer,
                                                          pairs: list[tuple[str, str]],
                                                          path: str) -> None:
    status, body = get(server, f"/api/v1/{path}?{_query(pairs)}".encode())
    if status >= 300:
        assert error_of(status, body)
    else:
        assert isinstance(json.loads(body), dict)


def test_fuzzing_the_read_apis_changed_no_entry(server: RunningServer) -> None:
    assert size_of(server) == SIZE


_SEGMENTS = st.one_of(
    st.sampled_from(["tile", "entries", "checkpoint", "addenda", "0", "00", "000", "001", "x000",
                     "x001", "x999", "999", "63", "64", "-1", ".p", "000.p", "1", "5", "0", "255",
                     "256", "257", "%2e%2e", "..", ".", "", "%00", "%2F", "%ff", "18446744073709551615",
                     "a" * 64, "0" * 64]),
    st.text(alphabet="0123456789x.p/%-", max_size=12),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_SEGMENTS, min_size=1, max_size=9), st.booleans())
def test_any_tile_path_is_answered_without_a_5xx(server: RunningServer, segments: list[str],
                                                 under_origin: bool) -> None:
    path = "/".join(segments)
    target = f"/{ORIGIN}/{path}" if under_origin else f"/{path}"
    status, body = get(server, target.encode())
    assert status in (200, 400, 404, 405, 410), (target, status, body[:200])
    if status != 200:
        assert body.strip(), target  # a reason, not an empty answer


@pytest.mark.parametrize("target", [f"/{ORIGIN}/checkpoint?x=1", f"/{ORIGIN}/checkpoint?",
                                    f"http://tiles.example/{ORIGIN}/checkpoint"])
def test_the_tiles_serve_the_path_whatever_the_query_or_the_form(server: RunningServer,
                                                                 target: str) -> None:
    # The tiles routed request.raw_path, which holds the query and, in absolute form, the
    # scheme and host: 404 "no such resource 'checkpoint?x=1'" for what the router matched.
    status, body = get(server, target.encode())
    assert status == 200 and body.startswith(f"{ORIGIN}\n{SIZE}\n".encode()), body[:200]
