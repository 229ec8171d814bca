"""A lying S3 store for tests: an HTTP proxy in front of a real one (SeaweedFS) that forwards
every request as it came (the SigV4 signature stays valid) except what its ``breaks`` name:

* ``"delete"``: answers 204 to a DELETE without forwarding it (claims to delete a locked version);
* ``"retention"``: answers 200 to a PUT of ``?retention`` without forwarding it (claims to shorten
  or downgrade a COMPLIANCE retention);
* ``"lock"``: drops the Object Lock headers from every answer (an object stored without its lock);
* ``"down"``: answers 503 to everything (an outage; give ``live`` to switch it on and off);
* ``"checkpoint"``: answers 503 to a PUT of a key ending in ``/checkpoint`` (a publisher cut off
  between the objects of a round and its checkpoint, as a crash there leaves the bucket).

This is what a store that accepts the Object Lock headers and enforces nothing looks like to a
client (seaweedfs/seaweedfs #7194, #11333): the canary probe must refuse it.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


def _handler(upstream: tuple[str, int], breaks: set[str]) -> type[BaseHTTPRequestHandler]:
    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            query = urllib.parse.urlsplit(self.path).query
            if "down" in breaks:
                return self._answer(503, {}, b"<Error><Code>ServiceUnavailable</Code></Error>")
            path = urllib.parse.urlsplit(self.path).path
            if self.command == "PUT" and path.endswith("/checkpoint") and "checkpoint" in breaks:
                return self._answer(503, {}, b"<Error><Code>ServiceUnavailable</Code></Error>")
            if self.command == "DELETE" and "delete" in breaks:
                return self._answer(204, {}, b"")
            if self.command == "PUT" and "retention" in query.split("&") and "retention" in breaks:
                return self._answer(200, {}, b"")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            connection = http.client.HTTPConnection(*upstream, timeout=30)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                reply = connection.getresponse()
                data = reply.read()
                out = {k: v for k, v in reply.getheaders() if k.lower() not in _HOP}
            finally:
                connection.close()
            if "lock" in breaks:
                out = {k: v for k, v in out.items() if not k.lower().startswith("x-amz-object-lock")}
            self._answer(reply.status, out, data)

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            length = str(len(body))
            for name, value in headers.items():
                if name.lower() == "content-length" and self.command == "HEAD":
                    length = value  # a HEAD says how long the object is, and sends no body
                elif name.lower() not in ("content-length", "server", "date"):
                    self.send_header(name, value)
            self.send_header("Content-Length", length)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Proxy


@contextmanager
def lying_store(upstream_url: str, *breaks: str, live: set[str] | None = None) -> Iterator[str]:
    """A proxy to ``upstream_url`` that breaks what ``breaks`` names; yields its URL. With
    ``live``, that set is the one read at every request: change it to change what breaks."""
    parts = urllib.parse.urlsplit(upstream_url)
    upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
    active = live if live is not None else set()
    active.update(breaks)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream, active))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
