"""The baseline servicer: gRPC calls that do nothing, on the same stack as the log server.

Run as ``python -m bench.empty_server``; it listens on an ephemeral port of 127.0.0.1, prints
``empty: serving gRPC on 127.0.0.1:PORT`` and serves until SIGTERM. Like the log server it is a
``grpc.aio`` server in its own process with the same message-size options and generic handlers
with identity (de)serializers, so the difference between a call to it and a call to the log
server is the work the log server does:

    /bench.Empty/Unary          unary -> b""
    /bench.Empty/ClientStream   client stream -> the number of messages received (u64)
    /bench.Empty/BidiStream     one b"" answer per message received
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from auditlog_tlog.common.stopping import stop_on_signals

SERVICE = "bench.Empty"
UNARY = f"/{SERVICE}/Unary"
CLIENT_STREAM = f"/{SERVICE}/ClientStream"
BIDI_STREAM = f"/{SERVICE}/BidiStream"


async def _unary(request: bytes, context: Any) -> bytes:
    return b""


async def _client_stream(requests: AsyncIterator[bytes], context: Any) -> bytes:
    count = 0
    async for _ in requests:
        count += 1
    return count.to_bytes(8, "big")


async def _bidi_stream(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
    async for _ in requests:
        yield b""


def _identity(raw: bytes) -> bytes:
    return raw


def handler() -> grpc.GenericRpcHandler:
    kw = {"request_deserializer": _identity, "response_serializer": _identity}
    return grpc.method_handlers_generic_handler(SERVICE, {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary, **kw),
        "ClientStream": grpc.stream_unary_rpc_method_handler(_client_stream, **kw),
        "BidiStream": grpc.stream_stream_rpc_method_handler(_bidi_stream, **kw),
    })


async def serve() -> None:
    server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", 16 * 1024 * 1024),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ])
    server.add_generic_rpc_handlers((handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"empty: serving gRPC on 127.0.0.1:{port}", flush=True)
    stop = stop_on_signals()
    await stop.wait()
    await server.stop(1)


if __name__ == "__main__":
    asyncio.run(serve())
