"""Register the Log service: parse every request ourselves, then authorize it, then serve it.

grpc's generated registration deserializes requests itself and answers INTERNAL when the bytes
do not parse. We register every method with an identity deserializer instead and parse in the
handler, where a ``DecodeError`` becomes a ``MalformedError`` that names the expected message.

Before parsing, a request larger than any valid request of its method is refused, and the
request's bytes are held in the server's byte budget until it is answered (server/budget.py);
a request that does not fit is refused with RESOURCE_EXHAUSTED and a retry hint.

Right after parsing, the caller is identified and its role on the request's log checked (and,
for appends, its quota charged): a denied request never reaches the service or storage.

The calls that never wait (the proofs: the service's ``immediate`` functions) are served in the
handler's own coroutine and counted there: a proof call's whole cost is a few Python calls, and
each coroutine, frame and lookup between gRPC and the proof runs with cold CPU caches, since
gRPC's own work between two calls evicts them (docs/call-cost.md).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from auditlog_tlog.common.echo import clip
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.budget import ByteBudget, HeapTrimmer, RequestLimits
from auditlog_tlog.server.convert import ENCODED_RESPONSES
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
    "Search": "read",
    "ListLogs": None, "AddCosignature": None, "LegalHold": "admin",
    "GetAddendum": "read", "Erase": "admin",
}


class Gate:
    """Identify, authorize and charge one request; count denials."""

    def __init__(self, authorizer: Authorizer, metrics: Metrics, limits: RequestLimits,
                 budget: ByteBudget) -> None:
        self.authorizer = authorizer
        self.metrics = metrics
        self.limits = limits
        self.budget = budget
        self.trimmer = HeapTrimmer()

    def readable(self, logs: Iterable[str], context: Any) -> list[str]:
        """Those of ``logs`` the caller may read (ListLogs shows only these)."""
        principal = None
        if not self.authorizer.open:
            try:
                principal = self.authorizer.identify(
                    context.invocation_metadata(), context.auth_context()
                )
            except AuditLogError as exc:
                self.metrics.denied.labels("ListLogs", status_of(exc).name).inc()
                raise
        return [log for log in logs if self.authorizer.may(principal, log, "read")]

    def who(self, context: Any) -> str:
        """The name of the caller's principal ("anonymous" without one), for the log's records."""
        if self.authorizer.open:
            return "anonymous"
        principal = self.authorizer.identify(context.invocation_metadata(), context.auth_context())
        return "anonymous" if principal is None else principal.name

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
                # Count without a list: a refused batch of 10^6 entries must not become
                # 10^6 Python objects at once.
                if hasattr(request, "entries"):
                    count, size = len(request.entries), sum(map(len, request.entries))
                else:
                    count, size = 1, len(request.entry)
                self.authorizer.charge(principal, count, size)
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


def _forget(exc: BaseException) -> None:
    """Let go of the request held by ``exc``'s tracebacks (and those of its context).

    grpc keeps the exception that ended a call (the AbortError of ``context.abort``, whose
    context is our error) in the call's state, and that state lives in a reference cycle
    until the garbage collector runs, which an idle server does rarely. Through the traceback
    the exception holds every frame it passed, and so the request: each refused 8 MiB batch
    of 10^6 entries kept ~47 MB alive, and RSS grew by that much per request (docs/limits.md).
    Clearing a frame drops its locals but not its function, whose closure may hold the
    request too; so our own errors, already turned into a status, lose their traceback.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        if isinstance(current, AuditLogError):
            current.__traceback__ = None
        pending += (current.__context__, current.__cause__)


def _answer(fn: Callable[[Any], bytes], request: Any, name: str, metrics: Metrics) -> bytes:
    """``fn(request)``, counted as a call of ``name`` (its AuditLogError with its status)."""
    started = time.perf_counter()
    try:
        answer = fn(request)
    except AuditLogError as exc:
        metrics.calls.call(name, status_of(exc).name, time.perf_counter() - started)
        raise
    metrics.calls.call(name, "OK", time.perf_counter() - started)
    return answer


def _unary_request(
    fn: Callable[..., Any], cls: type[Message], name: str, gate: Gate,
    immediate: Callable[[Any], bytes] | None = None,
) -> Callable[..., Any]:
    """The handler of a unary method: ``fn(request, context)`` awaited, or with ``immediate``,
    ``immediate(request)`` called in this coroutine."""
    metrics = gate.metrics
    # Looked up once: on a call, only a request over the bound or one that needs a role on a
    # server with principals calls into the limits or the authorizer (each call a few cold
    # microseconds; docs/call-cost.md).
    bound = gate.limits.bound(name)
    checked = ROLE[name] is not None

    async def handler(raw: bytes, context: Any) -> Any:
        size, request, held = len(raw), None, False
        try:
            try:
                if size > bound:
                    gate.limits.check(name, size)  # raises, naming the bound
                gate.budget.take(size)
                held = True
                request = _parse(cls, raw)
                if checked and not gate.authorizer.open:
                    gate.admit(name, request, context)
                if immediate is not None:
                    return _answer(immediate, request, name, metrics)
            except AuditLogError as exc:
                await context.abort(status_of(exc), clip(str(exc)), trailer_of(exc))
            return await fn(request, context)
        except BaseException as exc:
            _forget(exc)
            gate.trimmer.refused(size)
            raise
        finally:
            if held:
                gate.budget.give(size)
            del raw, request  # this frame, too, stays in the traceback grpc keeps

    return handler


def _stream_request(
    fn: Callable[..., Any], cls: type[Message], name: str, gate: Gate
) -> Callable[..., Any]:
    async def handler(raw_requests: AsyncIterator[bytes], context: Any) -> Any:
        async def requests() -> AsyncIterator[Any]:
            # Errors surface inside the handler's guard. A message holds its bytes in the
            # budget until the service asks for the next one; the messages the service then
            # still keeps are bounded by its stream window.
            log: str | None = None
            async for raw in raw_requests:
                gate.limits.check(name, len(raw))
                gate.budget.take(len(raw))
                try:
                    request = _parse(cls, raw)
                    log = stream_log(log, request.log)  # an empty log: the stream's (for roles too)
                    gate.admit(name, request, context, log)
                    yield request
                finally:
                    gate.budget.give(len(raw))

        try:
            return await fn(requests(), context)
        except BaseException as exc:
            _forget(exc)
            raise

    return handler


def generic_handler(servicer: object, gate: Gate) -> grpc.GenericRpcHandler:
    """A handler for every method of auditlog.v1.Log, served by ``servicer``'s methods, or by
    its ``immediate`` function of that method's name where it has one."""
    handlers = {}
    immediate: dict[str, Callable[[Any], bytes]] = getattr(servicer, "immediate", {})
    for method in SERVICE.methods:
        fn = getattr(servicer, method.name)
        request_cls = getattr(pb, method.input_type.name)
        response_cls = getattr(pb, method.output_type.name)
        # A few methods answer bytes they serialized themselves (server/convert.py).
        serialize = _identity if method.name in ENCODED_RESPONSES else \
            response_cls.SerializeToString
        if method.client_streaming:
            wrapped = _stream_request(fn, request_cls, method.name, gate)
            make = grpc.stream_stream_rpc_method_handler if method.server_streaming \
                else grpc.stream_unary_rpc_method_handler
        else:
            wrapped = _unary_request(fn, request_cls, method.name, gate,
                                     immediate.get(method.name))
            make = grpc.unary_stream_rpc_method_handler if method.server_streaming \
                else grpc.unary_unary_rpc_method_handler
        handlers[method.name] = make(
            wrapped, request_deserializer=_identity, response_serializer=serialize
        )
    return grpc.method_handlers_generic_handler(SERVICE.full_name, handlers)
