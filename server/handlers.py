"""Register the Log service so that a request that is not valid protobuf is INVALID_ARGUMENT.

grpc's generated registration deserializes requests itself and answers INTERNAL when the bytes
do not parse. We register every method with an identity deserializer instead and parse in the
handler, where a ``DecodeError`` becomes a ``MalformedError`` that names the expected message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from proto import auditlog_pb2 as pb
from tree.errors import MalformedError

SERVICE = pb.DESCRIPTOR.services_by_name["Log"]


def _parse(cls: type[Message], raw: bytes) -> Any:
    try:
        return cls.FromString(raw)
    except DecodeError as exc:
        raise MalformedError(
            f"request is not a valid {cls.DESCRIPTOR.full_name} message: {exc}"
        ) from None


def _identity(raw: bytes) -> bytes:
    return raw


def _unary_request(fn: Callable[..., Any], cls: type[Message]) -> Callable[..., Any]:
    async def handler(raw: bytes, context: Any) -> Any:
        try:
            request = _parse(cls, raw)
        except MalformedError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return await fn(request, context)

    return handler


def _stream_request(fn: Callable[..., Any], cls: type[Message]) -> Callable[..., Any]:
    async def handler(raw_requests: AsyncIterator[bytes], context: Any) -> Any:
        async def requests() -> AsyncIterator[Any]:
            async for raw in raw_requests:
                yield _parse(cls, raw)  # MalformedError surfaces inside the handler's guard

        return await fn(requests(), context)

    return handler


def generic_handler(servicer: object) -> grpc.GenericRpcHandler:
    """A handler for every method of auditlog.v1.Log, served by ``servicer``'s methods."""
    handlers = {}
    for method in SERVICE.methods:
        fn = getattr(servicer, method.name)
        request_cls = getattr(pb, method.input_type.name)
        response_cls = getattr(pb, method.output_type.name)
        serialize = response_cls.SerializeToString
        if method.client_streaming:
            wrapped = _stream_request(fn, request_cls)
            make = grpc.stream_stream_rpc_method_handler if method.server_streaming \
                else grpc.stream_unary_rpc_method_handler
        else:
            wrapped = _unary_request(fn, request_cls)
            make = grpc.unary_stream_rpc_method_handler if method.server_streaming \
                else grpc.unary_unary_rpc_method_handler
        handlers[method.name] = make(
            wrapped, request_deserializer=_identity, response_serializer=serialize
        )
    return grpc.method_handlers_generic_handler(SERVICE.full_name, handlers)
