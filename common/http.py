"""One asyncio HTTP stack (aiohttp, RFC 9112 HTTP/1.1) for every HTTP listener: the witness's
tlog-witness API, the log's tlog-tiles endpoint and both metrics endpoints.

A connection costs a coroutine, not a thread or a slot, and carries four bounds:

- a **total deadline per request**: from the first byte of a request to the last byte of its
  answer (headers, body, handling). A client that dribbles header bytes is answered ``408`` and
  closed when the deadline passes; one that is past its headers is cut off;
- an **idle limit** between requests on a kept-alive connection (``keepalive_s``);
- **connections per peer address** and in total: a connection beyond either is answered ``503``
  with ``Retry-After`` and closed before anything is read;
- the request line and each header line (aiohttp answers ``400`` beyond them) and the number
  of header lines; handlers check the finer limits themselves (414, 431, 413).

A body in a ``Content-Encoding`` aiohttp cannot undo here (br, zstd: their libraries are not
installed) is ``415`` with ``Accept-Encoding: gzip, deflate`` (RFC 9110 §15.5.16), not the
``400`` aiohttp answers before any handler runs. Every ``401`` carries ``WWW-Authenticate:
Bearer realm="auditlog"`` (RFC 9110 §11.6.1, RFC 6750 §3), every ``503`` a ``Retry-After``
(1 s unless the handler set its own, RFC 9110 §10.2.3). A query parameter given twice is the
handler's to refuse (:func:`query_once`): which value a client meant is unknown.

Responses go out with TCP_NODELAY: with Nagle's algorithm on, a response written in two pieces
waits for the client's delayed ACK (~40 ms per request on a reused connection). Over TLS the
handshake is bounded by the same deadline. Each listener gets its address checked by
:func:`auditlog_tlog.common.net.check_listener` before it binds, and reports the address it
really bound. :class:`ThreadedHTTPService` runs a service on an event loop of its own, for
programs (the witness) whose other parts are threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from auditlog_tlog.common.net import format_address, split_host_port

log = logging.getLogger("auditlog.http")
TEXT: Final = "text/plain; charset=utf-8"
_REFUSED: Final = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                   b"Content-Length: 30\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
                   b"too many connections, retry\r\n\r\n")
_TIMED_OUT: Final = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: 33\r\nConnection: close\r\n\r\n"
                     b"request not complete in time\r\n\r\n\r\n")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHALLENGE: Final = 'Bearer realm="auditlog"'  # the credential every 401 asks for (RFC 6750 §3)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one listener allows a client (see the module docstring)."""

    deadline_s: float = 10.0
    keepalive_s: float = 15.0
    max_connections: int = 1024
    max_per_peer: int = 64
    max_line: int = 16 * 1024
    max_headers: int = 100

    def __post_init__(self) -> None:
        for name in ("deadline_s", "keepalive_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: got {getattr(self, name)}, want > 0")
        for name in ("max_connections", "max_per_peer", "max_line", "max_headers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: got {getattr(self, name)}, want >= 1")


def text_response(status: int, message: str, close: bool = False,
                  headers: dict[str, str] | None = None) -> web.Response:
    """A one-line ``text/plain`` answer (``close``: the connection ends after it)."""
    response = web.Response(status=status, text=message[:1000] + "\n", content_type="text/plain",
                            charset="utf-8", headers=headers)
    if status == 503:
        response.headers["Retry-After"] = "1"
    if close:
        response.force_close()
    return response


def query_once(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A query's (name, value) ``pairs`` (``request.query.items()``) as a dict; ValueError
    ("<name>: given twice, want it once") for a parameter given more than once, since which of
    its values the client meant is unknown."""
    once: dict[str, str] = {}
    for name, value in pairs:
        if name in once:
            raise ValueError(f"{name[:64]}: given twice, want it once")
        once[name] = value
    return once


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value (RFC 9110 §12.5.3) allows gzip: named, or ``*``,
    with a non-zero weight."""
    weights: dict[str, float] = {}
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[coding.strip()] = weight
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0


class _Admission:
    """Open connections of one listener, in total and per peer address."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._per_peer: Counter[str] = Counter()
        self.total = 0
        self.requests = 0  # requests begun (a first byte read) and not yet answered

    def enter(self, peer: str) -> bool:
        if self.total >= self._limits.max_connections:
            return False
        if self._per_peer[peer] >= self._limits.max_per_peer:
            return False
        self.total += 1
        self._per_peer[peer] += 1
        return True

    def leave(self, peer: str) -> None:
        self.total -= 1
        self._per_peer[peer] -= 1
        if not self._per_peer[peer]:
            del self._per_peer[peer]


class _GuardedHandler(RequestHandler):
    """aiohttp's connection protocol with admission, TCP_NODELAY and the request deadline."""

    def __init__(self, manager: web.Server, admission: _Admission, limits: Limits,
                 **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._admission = admission
        self._limits = limits
        self._peer: str | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._busy = False  # a request has been answered in part; a 408 can no longer be sent
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if peername else "?"
        if not self._admission.enter(peer):
            log.info("refused a connection from %s: too many connections", peer)
            transport.write(_REFUSED)
            transport.close()
            return
        self._peer = peer
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._peer is None:
            return  # refused in connection_made: aiohttp never saw it
        self._admission.leave(self._peer)
        self._peer = None
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and data:
            # The first byte of a request starts its deadline (pipelined bytes that come
            # while a request is answered start theirs when that answer is out).
            self._deadline = self._loop.call_later(self._limits.deadline_s, self._expire)
            self._admission.requests += 1
        super().data_received(data)

    def request_started(self) -> None:
        self._busy = True

    def request_done(self) -> None:
        self._busy = False
        self._disarm()

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
            self._admission.requests -= 1

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if isinstance(exc, ContentEncodingError) and not request.writer.output_size:
            log.info("refused a request from %s: %s", self._peer, exc.message)
            return text_response(415, "Content-Encoding br or zstd cannot be undone here, want one of "
                                 "gzip, deflate or identity", close=True,
                                 headers={"Accept-Encoding": "gzip, deflate"})
        return super().handle_error(request, status, exc, message)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp logs a traceback at ERROR for a request its parser refuses and for one whose
        client went away mid-body: a line at INFO instead (the client's doing, one per
        connection: a hostile client must not fill the server's log with tracebacks); anything
        else as aiohttp does."""
        exc = kw.get("exc_info")
        gone = self.transport is None or self.transport.is_closing()
        if isinstance(exc, HttpProcessingError) or (isinstance(exc, ConnectionResetError) and gone):
            log.info("refused a request from %s: %s", self._peer, exc)
            return
        super().log_exception(*args, **kw)

    def _expire(self) -> None:
        self._deadline = None
        self._admission.requests -= 1
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        log.info("closing a connection from %s: request not complete in %.1f s", self._peer,
                 self._limits.deadline_s)
        if not self._busy:
            transport.write(_TIMED_OUT)
        self.force_close()
        transport.close()


def requests_in_progress(request: web.Request) -> int:
    """How many requests of ``request``'s listener have begun (their first byte read, on any
    connection) and are not answered yet, ``request`` included; 0 outside an
    :class:`HTTPService`. Requests whose bytes came in the same turn of the event loop are
    counted before any of their handlers runs."""
    protocol = request.protocol
    return protocol._admission.requests if isinstance(protocol, _GuardedHandler) else 0


@web.middleware
async def _deadline_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Writes the answer itself so the deadline covers it, then lets the next request start."""
    protocol = request.protocol
    guarded = protocol if isinstance(protocol, _GuardedHandler) else None
    if guarded is not None:
        guarded.request_started()
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # aiohttp's own (e.g. a body past client_max_size)
        response = text_response(exc.status, exc.reason, close=True)
    if response.status == 401 and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = CHALLENGE  # RFC 9110 §11.6.1: a 401 must have one
    elif response.status == 503 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = "1"  # a client told when to come back does not spin
    await response.prepare(request)
    await response.write_eof()
    if guarded is not None:
        guarded.request_done()
    return response


class HTTPService:
    """An aiohttp application on one address, with :class:`Limits`, on the running loop."""

    def __init__(self, app: web.Application, listen: str, limits: Limits,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._host, self._port = split_host_port(listen)
        self._listen = listen
        self._limits = limits
        self._ssl = ssl_context
        app.middlewares.insert(0, _deadline_middleware)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._server: asyncio.Server | None = None
        self.host = ""
        self.port = 0

    @property
    def address(self) -> str:
        """``host:port`` as bound (port 0 configured: the port the system picked)."""
        return format_address(self.host, self.port)

    async def start(self) -> str:
        """Bind and serve; returns :attr:`address`. OSError says which address failed."""
        await self._runner.setup()
        manager = self._runner.server
        assert manager is not None
        loop = asyncio.get_running_loop()
        admission = _Admission(self._limits)
        limits = self._limits

        def protocol() -> _GuardedHandler:
            return _GuardedHandler(
                manager, admission, limits, loop=loop, keepalive_timeout=limits.keepalive_s,
                max_line_size=limits.max_line, max_field_size=limits.max_line,
                max_headers=limits.max_headers, access_log=None,
            )

        try:
            self._server = await loop.create_server(
                protocol, self._host, self._port, ssl=self._ssl, backlog=512,
                ssl_handshake_timeout=limits.deadline_s if self._ssl else None,
                reuse_address=True,
            )
        except OSError as exc:
            await self._runner.cleanup()
            raise OSError(exc.errno, f"cannot listen on {self._listen}: {exc.strerror}") from exc
        sockname = self._server.sockets[0].getsockname()
        self.host, self.port = str(sockname[0]), int(sockname[1])
        return self.address

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._runner.shutdown()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        await self._runner.cleanup()


class ThreadedHTTPService:
    """An :class:`HTTPService` on an event loop in a thread of its own."""

    def __init__(self, make_app: Callable[[], web.Application], listen: str, limits: Limits,
                 ssl_context: ssl.SSLContext | None = None, name: str = "http") -> None:
        self._make_app = make_app
        self._args = (listen, limits, ssl_context)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._service: HTTPService | None = None

    def start(self) -> str:
        """Bind and serve in the background; returns the address bound."""
        self._thread.start()

        async def start() -> HTTPService:
            service = HTTPService(self._make_app(), *self._args)
            await service.start()
            return service

        try:
            self._service = asyncio.run_coroutine_threadsafe(start(), self._loop).result()
        except BaseException:
            self._close_loop()
            raise
        return self._service.address

    @property
    def port(self) -> int:
        return self._service.port if self._service is not None else 0

    @property
    def address(self) -> str:
        return self._service.address if self._service is not None else ""

    def stop(self) -> None:
        if self._service is not None:
            asyncio.run_coroutine_threadsafe(self._stop(self._service), self._loop).result(30)
            self._service = None
        self._close_loop()

    @staticmethod
    async def _stop(service: HTTPService) -> None:
        """Stop serving, then end what is left on this loop (connections that outlived the
        shutdown), so that closing the loop destroys no pending task."""
        await service.stop()
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    def _close_loop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._loop.is_closed():
            self._loop.close()
