"""Register the Log service: parse every request ourselves, then authorize it, then serve it.

grpc's generated registration deserializes requests itself and answers INTERNAL when the bytes
do not parse. We register every method with an identity deserializer instead and parse in the
handler, where a ``DecodeError`` becomes a ``MalformedError`` that names the expected message.

Right after parsing, the caller is identified and its role on the request's log checked (and,
for appends, its quota charged): a denied request never reaches the service or storage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.security import Authorizer
from auditlog_tlog.server.status import status_of, trailer_of
from auditlog_tlog.server.stream_window import stream_log
from auditlog_tlog.tree.errors import AuditLogError, MalformedError

SERVICE = pb.DESCRIPTOR.services_by_name["Log"]
# The role each method needs on the request's log; None: no role (ListLogs filters by role,
# AddCosignature is authenticated by the witness signature it carries).
ROLE = {
    "Append": "append", "AppendBatch": "append", "AppendStream": "append",
    "GetCheckpoint": "read", "GetInclusionProof": "read", "GetConsistencyProof": "read",
    "GetEntries": "read", "GetLogInfo": "read", "ListCheckpoints": "read",
    "ListLogs": None, "AddCosignature": None,
}


class Gate:
    """Identify, authorize and charge one request; count denials."""

    def __init__(self, authorizer: Authorizer, metrics: Metrics) -> None:
        self.authorizer = authorizer
        self.metrics = metrics

    def admit(self, method: str, request: Any, context: Any, log: str | None = None) -> None:
        """Raise unless the caller may call ``method`` on ``log`` (default: the request's)."""
        role = ROLE[method]
        if role is None or self.authorizer.open:
            return
        try:
            principal = self.authorizer.identify(
                context.invocation_metadata(), context.auth_context()
            )
            self.authorizer.check(principal, request.log if log is None else log, role)
            if role == "append":
                entries = list(request.entries) if hasattr(request, "entries") else [request.entry]
                self.authorizer.charge(principal, len(entries), sum(len(e) for e in entries))
        except AuditLogError as exc:
            self.metrics.denied.labels(method, status_of(exc).name).inc()
            raise


def _parse(cls: type[Message], raw: bytes) -> Any:
    try:
        return cls.FromString(raw)
    except DecodeError as exc:
        raise MalformedError(
            f"request is not a valid {cls.DESCRIPTOR.full_name} message: {exc}"
        ) from None


def _identity(raw: bytes) -> bytes:
    return raw


def _unary_request(
    fn: Callable[..., Any], cls: type[Message], name: str, gate: Gate
) -> Callable[..., Any]:
    async def handler(raw: bytes, context: Any) -> Any:
        try:
            request = _parse(cls, raw)
            gate.admit(name, request, context)
        except AuditLogError as exc:
            await context.abort(status_of(exc), str(exc), trailer_of(exc))
        return await fn(request, context)

    return handler


def _stream_request(
    fn: Callable[..., Any], cls: type[Message], name: str, gate: Gate
) -> Callable[..., Any]:
    async def handler(raw_requests: AsyncIterator[bytes], context: Any) -> Any:
        async def requests() -> AsyncIterator[Any]:
            log: str | None = None
            async for raw in raw_requests:
                request = _parse(cls, raw)  # errors surface inside the handler's guard
                log = stream_log(log, request.log)  # a message with an empty log: the stream's
                gate.admit(name, request, context, log)
                yield request

        return await fn(requests(), context)

    return handler


def generic_handler(servicer: object, gate: Gate) -> grpc.GenericRpcHandler:
    """A handler for every method of auditlog.v1.Log, served by ``servicer``'s methods."""
    handlers = {}
    for method in SERVICE.methods:
        fn = getattr(servicer, method.name)
        request_cls = getattr(pb, method.input_type.name)
        response_cls = getattr(pb, method.output_type.name)
        serialize = response_cls.SerializeToString
        if method.client_streaming:
            wrapped = _stream_request(fn, request_cls, method.name, gate)
            make = grpc.stream_stream_rpc_method_handler if method.server_streaming \
                else grpc.stream_unary_rpc_method_handler
        else:
            wrapped = _unary_request(fn, request_cls, method.name, gate)
            make = grpc.unary_stream_rpc_method_handler if method.server_streaming \
                else grpc.unary_unary_rpc_method_handler
        handlers[method.name] = make(
            wrapped, request_deserializer=_identity, response_serializer=serialize
        )
    return grpc.method_handlers_generic_handler(SERVICE.full_name, handlers)
