"""The witness's HTTP API, c2sp.org/tlog-witness@v1.0.0 (and the HEAD monitoring endpoint):

    POST <prefix>/add-checkpoint                    body: see tree.witness_protocol
        200 cosignature lines | 400 | 403 | 404 | 409 text/x.tlog.size "<size>\\n" | 422 | 503
    GET  <prefix>/<hex sha256(origin)>/checkpoint   the latest cosigned checkpoint, or 404

Every answer but 200 and 409 carries a one-line ``text/plain`` body saying what was wrong.
Inputs are bounded before they are read: request line and header lines by ``http.server``
(64 KiB each, 100 headers), the header block to ``MAX_HEADER_BYTES``, the body to
``tree.witness_protocol.MAX_BODY_SIZE`` announced by ``Content-Length`` (413 beyond, 411
without), the time a client may take by a socket timeout, and open connections by a semaphore
(503 beyond). HTTP/1.1 keep-alive is on, as the spec recommends.

With an ``ssl.SSLContext`` (``witness.tls.server_context``) it serves HTTPS, and with mutual TLS
only to clients whose certificate chains to the configured CA. The handshake runs in the
connection's own thread, under the same socket timeout, so a slow or silent client holds one
connection slot and never the accept loop; a failed handshake is logged and the connection
closed before any HTTP is read.
"""

from __future__ import annotations

import contextlib
import logging
import re
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from auditlog_tlog.tree.errors import AuditLogError
from auditlog_tlog.tree.witness_protocol import MAX_BODY_SIZE, format_size_body
from auditlog_tlog.witness.core import OldSizeConflictError, Witness
from auditlog_tlog.witness.status import http_status_of

log = logging.getLogger("auditlog.witness.http")
MAX_HEADER_BYTES: Final = 16 * 1024
MAX_PATH: Final = 1024
_CHECKPOINT_PATH: Final = re.compile(r"/([0-9a-f]{64})/checkpoint")
_TEXT: Final = "text/plain; charset=utf-8"


class WitnessHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server for one :class:`Witness` (``prefix``: e.g. "" or "/witness")."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        witness: Witness,
        prefix: str = "",
        max_connections: int = 64,
        timeout_s: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"prefix {prefix!r}: want '' or '/path' without a trailing '/'")
        self.witness = witness
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.ssl_context = ssl_context
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            if self.ssl_context is None:  # over TLS there is no answering before a handshake
                with contextlib.suppress(OSError):
                    request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                    b"Connection: close\r\nRetry-After: 1\r\n\r\n")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Over TLS: the handshake (in this connection's thread), then HTTP on the TLS socket."""
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(self.timeout_s)
        try:
            # wrap_socket takes over the descriptor (``request`` is left detached) and closes
            # it itself if the handshake fails.
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            self.shutdown_request(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that goes away is routine; anything else is logged with its traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError | ssl.SSLError):
            log.debug("connection from %s: %s", client_address, exc)
        else:
            log.exception("request from %s failed", client_address)

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="witness-http",
                                  daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: WitnessHTTPServer
    protocol_version = "HTTP/1.1"
    # A response goes out in two sends (headers, body); with Nagle's algorithm on, the second
    # waits for the client's delayed ACK, ~40 ms per request on keep-alive connections.
    disable_nagle_algorithm = True
    server_version = "auditlog-witness"
    sys_version = ""

    def setup(self) -> None:
        # StreamRequestHandler.setup applies ``timeout`` to the socket: a slow client is cut off.
        self.request.settimeout(self.server.timeout_s)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, code: int, body: bytes, content_type: str = _TEXT, close: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if code == 503:
            self.send_header("Retry-After", "1")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _error(self, code: int, message: str, close: bool = False) -> None:
        self._send(code, (message[:1000] + "\n").encode(), close=close)

    def _headers_ok(self) -> bool:
        if len(self.path) > MAX_PATH:
            self._error(414, f"request path of {len(self.path)} bytes, want at most {MAX_PATH}",
                        close=True)
            return False
        size = sum(len(k) + len(v) + 4 for k, v in self.headers.items())
        if size > MAX_HEADER_BYTES:
            self._error(431, f"headers of {size} bytes, want at most {MAX_HEADER_BYTES}",
                        close=True)
            return False
        return True

    def _read_body(self) -> bytes | None:
        if "Transfer-Encoding" in self.headers:
            self._error(411, "chunked bodies are not accepted: send Content-Length", close=True)
            return None
        raw = self.headers.get("Content-Length")
        if raw is None:
            self._error(411, "Content-Length is required", close=True)
            return None
        if not raw.isascii() or not raw.isdigit() or len(raw) > 20:
            self._error(400, f"Content-Length {raw[:32]!r}: want a decimal", close=True)
            return None
        length = int(raw)
        if length > MAX_BODY_SIZE:
            self._error(413, f"body of {length} bytes, want at most {MAX_BODY_SIZE}", close=True)
            return None
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            return None
        if len(body) != length:
            self.close_connection = True  # the client went away mid-body
            return None
        return body

    def do_POST(self) -> None:
        if not self._headers_ok():
            return
        if self.path != self.server.prefix + "/add-checkpoint":
            self._error(404, f"no such endpoint: POST {self.path[:200]}", close=True)
            return
        body = self._read_body()
        if body is None:
            return
        try:
            lines = self.server.witness.add_checkpoint(body)
        except OldSizeConflictError as exc:
            self._send(409, format_size_body(exc.size), "text/x.tlog.size")
        except AuditLogError as exc:
            self._error(http_status_of(exc), str(exc))
        except Exception:
            log.exception("add-checkpoint failed")
            self._error(500, "internal error")
        else:
            self._send(200, lines)

    def do_GET(self) -> None:
        if not self._headers_ok():
            return
        prefix = self.server.prefix
        match = _CHECKPOINT_PATH.fullmatch(self.path[len(prefix):])
        if not self.path.startswith(prefix) or match is None:
            self._error(404, f"no such endpoint: GET {self.path[:200]}")
            return
        try:
            note = self.server.witness.latest(match.group(1))
        except AuditLogError as exc:
            self._error(http_status_of(exc), str(exc))
        except Exception:
            log.exception("checkpoint lookup failed")
            self._error(500, "internal error")
        else:
            self._send(200, note)

    def _not_allowed(self) -> None:
        self.send_response(405)
        self.send_header("Allow", "GET, POST")
        body = b"method not allowed: want POST add-checkpoint or GET <hex origin>/checkpoint\n"
        self.send_header("Content-Type", _TEXT)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed
