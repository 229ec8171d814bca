"""The pusher's keep-alive connections to witnesses (server/pushing.py, KeepAlivePost)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from auditlog_tlog.server.pushing import KeepAlivePost
from auditlog_tlog.tree.errors import MalformedError


class _Witness(http.server.BaseHTTPRequestHandler):
    """Answers each POST with its connection's number; closes silently when told to."""

    protocol_version = "HTTP/1.1"
    connections = 0
    requests = 0
    drop_idle = False
    answer = b"ok\n"

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1
        self.number = type(self).connections

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests += 1
        body = self.answer or f"{self.number}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.drop_idle:
            self.close_connection = True  # without saying so: the client finds out on reuse

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _serving(**attrs: object) -> Iterator[tuple[str, type[_Witness]]]:
    handler = type("Handler", (_Witness,), {"connections": 0, "requests": 0, "answer": b"",
                                            **attrs})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_pushes_reuse_one_connection() -> None:
    post = KeepAlivePost()
    with _serving() as (url, handler):
        answers = [post(url, b"body", 5.0) for _ in range(5)]
        post.close()
    assert [a[0] for a in answers] == [200] * 5
    assert {a[2] for a in answers} == {b"1\n"} and handler.connections == 1


def test_a_connection_the_witness_closed_while_idle_is_replaced_once() -> None:
    post = KeepAlivePost()
    with _serving(drop_idle=True) as (url, handler):
        answers = [post(url, b"body", 5.0) for _ in range(3)]
        post.close()
    assert [a[2] for a in answers] == [b"1\n", b"2\n", b"3\n"]
    assert handler.requests == 3 and handler.connections == 3


def test_an_oversized_answer_closes_the_connection() -> None:
    post = KeepAlivePost()
    with _serving(answer=b"x" * (70 * 1024)) as (url, handler):
        with pytest.raises(MalformedError, match="answered more than"):
            post(url, b"body", 5.0)
        with pytest.raises(MalformedError):
            post(url, b"body", 5.0)
        post.close()
    assert handler.connections == 2  # the half-read connection was not reused
