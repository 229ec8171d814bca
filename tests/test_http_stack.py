"""common/net.py and common/http.py: the listener rule, addresses, Accept-Encoding, limits."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from aiohttp import web

from auditlog_tlog.common.http import (
    HTTPService,
    Limits,
    accepts_gzip,
    query_once,
    requests_in_progress,
)
from auditlog_tlog.common.net import check_listener, format_address, split_host_port


@pytest.mark.parametrize("listen", ["127.0.0.1:7600", "[::1]:0", "localhost:1", "127.9.9.9:80"])
def test_plain_text_on_loopback_is_always_allowed(listen: str) -> None:
    check_listener("tiles HTTP", listen, tls=False, insecure=False, section="[server]")


@pytest.mark.parametrize("listen", ["0.0.0.0:7600", "[::]:0", "10.0.0.1:80", "example.com:1"])
def test_plain_text_off_loopback_needs_insecure_and_is_warned(
    listen: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ValueError, match=r"refusing plain-text metrics HTTP on .*"
                       r"set insecure = true in \[server\]"):
        check_listener("metrics HTTP", listen, tls=False, insecure=False, section="[server]")
    with caplog.at_level(logging.WARNING, "auditlog.net"):
        check_listener("metrics HTTP", listen, tls=False, insecure=True, section="[server]")
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    check_listener("gRPC", listen, tls=True, insecure=False, section="[server]")  # TLS: fine


def test_addresses_split_and_format_with_ipv6_in_brackets() -> None:
    assert split_host_port("[::1]:7600") == ("::1", 7600)
    assert split_host_port("0.0.0.0:0") == ("0.0.0.0", 0)
    assert format_address("::1", 7600) == "[::1]:7600"
    assert format_address("0.0.0.0", 41000) == "0.0.0.0:41000"
    for bad in ("7600", "host:", "host:65536", "host:x"):
        with pytest.raises(ValueError, match="want host:port"):
            split_host_port(bad)


@pytest.mark.parametrize(("header", "gzip"), [
    ("gzip", True), ("gzip, deflate, br", True), ("deflate, gzip;q=0.5", True), ("*", True),
    ("", False), ("identity", False), ("gzip;q=0", False), ("deflate", False),
    ("*;q=0", False), ("gzip;q=0, *", False), ("GZIP", True), ("x-gzip", True),
    ("gzip;q=nonsense", False),
])
def test_accept_encoding(header: str, gzip: bool) -> None:
    assert accepts_gzip(header) is gzip


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="deadline_s: got 0, want > 0"):
        Limits(deadline_s=0)
    with pytest.raises(ValueError, match="max_per_peer: got 0, want >= 1"):
        Limits(max_per_peer=0)


def test_a_service_reports_the_port_it_bound_and_refuses_a_taken_one() -> None:
    async def main() -> None:
        app = web.Application()
        service = HTTPService(app, "127.0.0.1:0", Limits())
        address = await service.start()
        try:
            host, port = split_host_port(address)
            assert host == "127.0.0.1" and port > 0
            with socket.create_connection((host, port), timeout=5):
                pass
            with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
                await HTTPService(web.Application(), address, Limits()).start()
        finally:
            await service.stop()

    asyncio.run(main())


def test_requests_in_progress_counts_requests_begun_on_every_connection() -> None:
    async def count(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text=str(requests_in_progress(request)))

    async def ask(host: str, port: int, body: bytes = b"") -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
        answer = await reader.read(65536)
        writer.close()
        return answer.rpartition(b"\r\n\r\n")[2]

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/", count)
        service = HTTPService(app, "127.0.0.1:0", Limits())
        host, port = split_host_port(await service.start())
        try:
            assert await ask(host, port) == b"1"  # alone
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab")
            await writer.drain()
            # Those bytes are in the kernel before the next connection's: the loop reads them
            # in the same turn or an earlier one, before any handler of the next runs.
            assert await ask(host, port) == b"2"
            writer.write(b"cde")
            assert (await reader.read(65536)).endswith(b"\r\n\r\n1")  # the other is answered
            writer.close()
            assert await ask(host, port) == b"1"
        finally:
            await service.stop()

    asyncio.run(main())


def test_a_refused_or_abandoned_request_logs_one_line_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A request line aiohttp's parser refuses, and a client gone mid-body, are the client's
    doing: one INFO line each, no ERROR with a traceback (a hostile client's log flood)."""
    async def read(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="read")

    async def send(host: str, port: int, data: bytes, wait: bool) -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(data)
        await writer.drain()
        answer = await reader.read(65536) if wait else b""
        writer.close()
        return answer

    async def main() -> bytes:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", read)
        service = HTTPService(app, "127.0.0.1:0", Limits())
        host, port = split_host_port(await service.start())
        try:
            refused = await send(host, port, b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n", True)
            await send(host, port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                       b"\r\nab", False)
            await asyncio.sleep(0.3)  # the handler sees the connection lost
            assert (await send(host, port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True)
                    ).endswith(b"read")  # still serving
            return refused
        finally:
            await service.stop()

    with caplog.at_level(logging.INFO):
        refused = asyncio.run(main())
    assert refused.split(b"\r\n")[0].endswith(b" 400 Bad Request")
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors == [], [r.getMessage() for r in errors]
    assert sum("refused a request from" in r.getMessage() for r in caplog.records) == 2


def test_every_503_tells_when_to_come_back() -> None:
    """A 503 a handler wrote without ``Retry-After`` (search, console: a log's store failing)
    gets one second; one the handler set (the ingest's pushback) is kept."""
    async def unavailable(request: web.Request) -> web.Response:
        own = request.query.get("own")
        return web.json_response({"error": "store unavailable"}, status=503,
                                 headers={"Retry-After": own} if own else None)

    async def main() -> list[str | None]:
        app = web.Application()
        app.router.add_get("/", unavailable)
        service = HTTPService(app, "127.0.0.1:0", Limits())
        host, port = split_host_port(await service.start())
        found = []
        try:
            for target in ("/", "/?own=7"):
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                             % target.encode())
                head = (await reader.read(65536)).partition(b"\r\n\r\n")[0].decode()
                writer.close()
                assert head.startswith("HTTP/1.1 503 ")
                found.append(next((line.split(": ", 1)[1] for line in head.split("\r\n")
                                   if line.lower().startswith("retry-after:")), None))
        finally:
            await service.stop()
        return found

    assert asyncio.run(main()) == ["1", "7"]


def test_a_query_parameter_given_twice_is_named() -> None:
    assert query_once([("log", "a"), ("limit", "5")]) == {"log": "a", "limit": "5"}
    with pytest.raises(ValueError, match=r"^limit: given twice, want it once$"):
        query_once([("log", "a"), ("limit", "5"), ("limit", "6")])
