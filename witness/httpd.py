"""The witness's HTTP API, c2sp.org/tlog-witness@v1.0.0, on the shared aiohttp stack
(``common.http``):

    POST <prefix>/add-checkpoint                    body: see tree.witness_protocol
        200 cosignature lines | 400 | 403 | 404 | 409 text/x.tlog.size "<size>\\n" | 422 | 503
    GET  <prefix>/<hex sha256(origin)>/checkpoint   the latest cosigned checkpoint, or 404

Every answer but 200 and 409 carries a one-line ``text/plain`` body saying what was wrong.
Inputs are bounded before they are read: the request path to ``MAX_PATH`` (414), the header
block to ``MAX_HEADER_BYTES`` (431), the body to ``tree.witness_protocol.MAX_BODY_SIZE``
announced by ``Content-Length`` (413 beyond, 411 without or chunked), the bodies over
``SMALL_BODY`` held at once to ``max_inflight_bytes`` (503 beyond, with ``Retry-After``), the
whole request by a total deadline (408 or closed), and open connections per peer and in total
(503 beyond).
HTTP/1.1 keep-alive is on, as the spec recommends. A slow client costs a coroutine.

An add-checkpoint is handled on one of two paths (docs/witness-speed.md), with the same
checks, compare-and-swap, sync and archive on both (``Witness.add_checkpoint``):

- **inline**, on the event loop, when it is the only request of the listener in progress
  (``common.http.requests_in_progress``: the usual case of a log pushing on one connection)
  and its body is at most ``SMALL_BODY`` (a push is a few KB):
  no hand-off to a thread, its own ``fdatasync``. Only where the witness's work is local
  (``inline=True``: the journal and a local archive); a put to S3 may wait on the network for
  seconds and always goes to a thread;
- **in a worker thread** when others are in progress, so that concurrent requests share the
  journal's syncs and a slow disk holds up no other connection's reads.

With an ``ssl.SSLContext`` (``witness.tls.server_context``) it serves HTTPS, and with mutual TLS
only to clients whose certificate chains to the configured CA; the handshake is bounded by the
request deadline, and a failed one closes the connection before any HTTP is read.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections import Counter
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import Counter as PromCounter

from auditlog_tlog.common.http import (
    Handler,
    Limits,
    ThreadedHTTPService,
    requests_in_progress,
    text_response,
)
from auditlog_tlog.common.net import format_address, split_host_port
from auditlog_tlog.tree.errors import AuditLogError
from auditlog_tlog.tree.witness_protocol import MAX_BODY_SIZE, format_size_body
from auditlog_tlog.witness.config import MAX_INFLIGHT_BYTES
from auditlog_tlog.witness.core import OldSizeConflictError, Witness
from auditlog_tlog.witness.metrics import WitnessMetrics
from auditlog_tlog.witness.status import http_status_of

log = logging.getLogger("auditlog.witness.http")
MAX_HEADER_BYTES: Final = 16 * 1024
MAX_PATH: Final = 1024
# A push is a few KB. A body up to SMALL_BODY may be handled inline (parsing one near
# MAX_BODY_SIZE takes ~27 ms of CPU, time in which the loop would read no other connection) and
# is never refused for max_inflight_bytes: max_connections * SMALL_BODY bounds those, and a
# peer that holds the budget with large bodies must not keep other logs' pushes out.
SMALL_BODY: Final = 64 * 1024
_CHECKPOINT_PATH: Final = re.compile(r"/([0-9a-f]{64})/checkpoint")
# How many add-checkpoints the app handled on each path, "inline" and "thread" (module docstring).
PATHS: Final = web.AppKey("paths", Counter[str])


def witness_app(witness: Witness, prefix: str = "", metrics: WitnessMetrics | None = None,
                inline: bool = True,
                max_inflight_bytes: int = MAX_INFLIGHT_BYTES) -> web.Application:
    """The tlog-witness endpoints of ``witness`` under ``prefix`` ("" or "/path"); ``inline``:
    a request alone may be handled on the event loop (module docstring)."""
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ValueError(f"prefix {prefix!r}: want '' or '/path' without a trailing '/'")
    api = _WitnessAPI(witness, prefix, inline, max_inflight_bytes)
    app = web.Application(client_max_size=MAX_BODY_SIZE)
    app[PATHS] = api.paths
    if metrics is not None:
        app.middlewares.append(_counting(metrics))
    app.router.add_route("*", "/{tail:.*}", api.handle)
    return app


def _endpoint(path: str) -> str:
    if path.endswith("/add-checkpoint"):
        return "add-checkpoint"
    return "checkpoint" if path.endswith("/checkpoint") else "other"


def _counting(metrics: WitnessMetrics) -> Middleware:
    counters: dict[tuple[str, int], PromCounter] = {}  # labels() looks its child up by strings

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        key = (_endpoint(request.rel_url.raw_path), response.status)
        counter = counters.get(key)
        if counter is None:
            counter = counters[key] = metrics.requests.labels(key[0], str(key[1]))
        counter.inc()
        return response

    return count


class _WitnessAPI:
    def __init__(self, witness: Witness, prefix: str, inline: bool, max_inflight: int) -> None:
        self._witness = witness
        self._prefix = prefix
        self._inline = inline
        self._max_inflight = max_inflight
        self._inflight = 0  # Content-Length of the large add-checkpoints read or handled
        self.paths: Counter[str] = Counter()  # add-checkpoints handled "inline" or in a "thread"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = request.raw_path  # as sent: with a query, and in absolute form scheme and host
        if len(target) > MAX_PATH:
            return text_response(414, f"request path of {len(target)} bytes, want at most "
                                 f"{MAX_PATH}", close=True)
        path = request.rel_url.raw_path  # the path alone, still percent-encoded
        size = sum(len(k) + len(v) + 4 for k, v in request.raw_headers)
        if size > MAX_HEADER_BYTES:
            return text_response(431, f"headers of {size} bytes, want at most "
                                 f"{MAX_HEADER_BYTES}", close=True)
        if request.method == "POST":
            return await self._post(request, path)
        if request.method in ("GET", "HEAD"):
            return await self._get(path)
        return text_response(
            405, "method not allowed: want POST add-checkpoint or GET <hex origin>/checkpoint",
            close=True, headers={"Allow": "GET, POST"},
        )

    async def _post(self, request: web.Request, path: str) -> web.StreamResponse:
        if path != self._prefix + "/add-checkpoint":
            return text_response(404, f"no such endpoint: POST {path[:200]}", close=True)
        if "Transfer-Encoding" in request.headers:
            return text_response(411, "chunked bodies are not accepted: send Content-Length",
                                 close=True)
        length = request.content_length
        if length is None:
            return text_response(411, "Content-Length is required", close=True)
        if length > MAX_BODY_SIZE:
            return text_response(413, f"body of {length} bytes, want at most {MAX_BODY_SIZE}",
                                 close=True)
        large = length if length > SMALL_BODY else 0
        if large and self._inflight + large > self._max_inflight:
            return text_response(503, f"{self._inflight} bytes of requests in progress, limit "
                                 f"{self._max_inflight}; retry", close=True,
                                 headers={"Retry-After": "1"})
        self._inflight += large  # on the event loop only: no lock
        try:
            return await self._add_checkpoint(request)
        finally:
            self._inflight -= large

    async def _add_checkpoint(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            if (self._inline and len(body) <= SMALL_BODY
                    and requests_in_progress(request) == 1):
                self.paths["inline"] += 1
                lines = self._witness.add_checkpoint(body)
            else:
                self.paths["thread"] += 1
                lines = await asyncio.to_thread(self._witness.add_checkpoint, body)
        except OldSizeConflictError as exc:
            return web.Response(status=409, body=format_size_body(exc.size),
                                content_type="text/x.tlog.size")
        except AuditLogError as exc:
            return text_response(http_status_of(exc), str(exc))
        except Exception:
            log.exception("add-checkpoint failed")
            return text_response(500, "internal error")
        return web.Response(body=lines, content_type="text/plain", charset="utf-8")

    async def _get(self, path: str) -> web.StreamResponse:
        match = _CHECKPOINT_PATH.fullmatch(path[len(self._prefix):])
        if not path.startswith(self._prefix) or match is None:
            return text_response(404, f"no such endpoint: GET {path[:200]}")
        try:
            note = await asyncio.to_thread(self._witness.latest, match.group(1))
        except AuditLogError as exc:
            return text_response(http_status_of(exc), str(exc))
        except Exception:
            log.exception("checkpoint lookup failed")
            return text_response(500, "internal error")
        return web.Response(body=note, content_type="text/plain", charset="utf-8")


class WitnessHTTPServer:
    """The witness API on its own event loop thread: ``start`` binds, ``stop`` closes.

    ``max_connections`` bounds open connections in total, ``max_per_peer`` per client
    address, ``max_inflight_bytes`` the request bodies held at once; ``timeout_s`` is the
    total deadline of one request (and of a TLS handshake).
    """

    def __init__(
        self,
        address: tuple[str, int],
        witness: Witness,
        prefix: str = "",
        max_connections: int = 1024,
        timeout_s: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        max_per_peer: int = 64,
        metrics: WitnessMetrics | None = None,
        inline: bool = True,
        max_inflight_bytes: int = MAX_INFLIGHT_BYTES,
    ) -> None:
        # witness_app checks the prefix before anything binds
        app = witness_app(witness, prefix, metrics, inline, max_inflight_bytes)
        self.paths = app[PATHS]  # add-checkpoints handled "inline" and in a "thread"
        limits = Limits(deadline_s=timeout_s, max_connections=max_connections,
                        max_per_peer=min(max_per_peer, max_connections))
        self._service = ThreadedHTTPService(lambda: app, format_address(*address), limits,
                                            ssl_context, name="witness-http")

    def start(self) -> str:
        """Bind and serve; returns the address bound (port 0: the port picked)."""
        return self._service.start()

    @property
    def port(self) -> int:
        return self._service.port

    @property
    def address(self) -> str:
        return self._service.address

    @property
    def server_address(self) -> tuple[str, int]:
        """(host, port) as bound, as ``socketserver`` names it (callers of the old server)."""
        return split_host_port(self._service.address)

    def stop(self) -> None:
        self._service.stop()
