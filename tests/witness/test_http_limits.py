"""The witness's HTTP listener under slow and greedy clients (issue 11): a slow client costs a
coroutine, not a slot; every request has a total deadline; connections are limited per peer;
a reused connection answers without the Nagle stall."""

from __future__ import annotations

import contextlib
import http.client
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlog_tlog.witness.core import Witness, origin_hash
from auditlog_tlog.witness.httpd import WitnessHTTPServer
from tests.slowclients import slow_clients
from tests.witness.helpers import TestLog, add_checkpoint, make_witness, request, served


@pytest.fixture
def setup(tmp_path: Path) -> tuple[TestLog, Witness]:
    log = TestLog()
    return log, make_witness(tmp_path, [log])


@pytest.fixture
def server(setup: tuple[TestLog, Witness]) -> Iterator[WitnessHTTPServer]:
    with served(setup[1], timeout_s=1.0) as s:
        yield s


def test_a_normal_client_is_served_while_200_slow_connections_are_open(
    setup: tuple[TestLog, Witness], server: WitnessHTTPServer
) -> None:
    log, _ = setup
    with slow_clients(server.port, 200, interval_s=0.1) as slow:
        time.sleep(0.3)  # every slow connection is accepted and dribbling
        assert slow.answered() == 0
        started = time.monotonic()
        for size in range(1, 11):
            reply = add_checkpoint(server.port, log.body(size - 1, size))
            assert reply.status == 200, reply.body
        assert time.monotonic() - started < 5
        # ...and the slow ones are cut off by the deadline, not served forever.
        deadline = time.monotonic() + 10
        while slow.answered() < 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert slow.answered() == 200


def test_a_request_dribbling_its_headers_gets_408_at_the_deadline(
    server: WitnessHTTPServer,
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        started = time.monotonic()
        s.sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\n")
        answer = b""
        for i in range(100):  # a header line every 50 ms: each read is quick, the whole is not
            with contextlib.suppress(OSError):
                s.sendall(b"X-%d: y\r\n" % i)
            s.settimeout(0.05)
            with contextlib.suppress(TimeoutError):
                answer = s.recv(200)
            if answer:
                break
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert 0.9 < time.monotonic() - started < 4


def test_a_body_slower_than_the_deadline_is_cut_off(server: WitnessHTTPServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        started = time.monotonic()
        s.sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nold 0\n")
        assert s.recv(200) == b""  # closed without an answer: the body never came in time
        assert 0.9 < time.monotonic() - started < 4


def test_connections_per_peer_are_limited_and_other_peers_still_served(
    setup: tuple[TestLog, Witness],
) -> None:
    log, witness = setup
    with served(witness, max_per_peer=3) as server, slow_clients(server.port, 5, sources=1) as slow:
        deadline = time.monotonic() + 5
        while slow.answered() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert slow.answered() == 2  # two beyond the 3 of 127.0.0.2 are refused at once
        for s in slow.sockets[3:]:
            with contextlib.suppress(ConnectionResetError):
                assert s.recv(100).startswith(b"HTTP/1.1 503 ")
        assert add_checkpoint(server.port, log.body(0, 1)).status == 200


def test_keep_alive_requests_do_not_wait_for_delayed_acks(
    setup: tuple[TestLog, Witness], server: WitnessHTTPServer
) -> None:
    log, _ = setup
    assert add_checkpoint(server.port, log.body(0, 3)).status == 200
    path = f"/{origin_hash(log.origin)}/checkpoint"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        request(server.port, "GET", path, connection=conn)  # connect and warm up
        started = time.monotonic()
        statuses = {request(server.port, "GET", path, connection=conn).status for _ in range(50)}
        elapsed = time.monotonic() - started
    finally:
        conn.close()
    assert statuses == {200}
    assert elapsed < 1.0, f"50 requests on one connection took {elapsed:.3f} s"
