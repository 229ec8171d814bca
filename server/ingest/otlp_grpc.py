"""OTLP/gRPC: ``opentelemetry.proto.collector.logs.v1.LogsService/Export`` on the log's gRPC
server (opentelemetry.io/docs/specs/otlp, "OTLP/gRPC").

Registered like our own service (server/handlers.py) rather than with the generated
``add_LogsServiceServicer_to_server``: grpc's generated registration parses the request itself
and answers INTERNAL to bytes that do not parse. Here a request larger than the bound
(``[ingest] max_request_bytes``, or ``[server] max_inflight_bytes`` when lower:
``request_bound`` of server/ingest/config.py) is refused before it is parsed
(INVALID_ARGUMENT, naming the setting), unless it is beyond the gRPC receive limit too, which
grpc refuses itself (RESOURCE_EXHAUSTED, docs/ingestion.md "Limits"); its bytes are held in
the server's byte budget until it is answered (RESOURCE_EXHAUSTED when they do not fit), and
a request that does not parse is INVALID_ARGUMENT with the reason (parsed in a conversion
worker when ``[ingest] workers`` is set; a worker that dies with it is UNAVAILABLE). The
caller is identified by bearer token or client certificate, as for ``Append``; refusals use
the one status table (server/status.py). A retryable refusal (RESOURCE_EXHAUSTED, UNAVAILABLE) is one the OTLP
exporters retry.
"""

from __future__ import annotations

import time
from typing import Any, Final

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from auditlog_tlog.common.echo import clip
from auditlog_tlog.server.budget import ByteBudget
from auditlog_tlog.server.ingest.config import RequestBound
from auditlog_tlog.server.ingest.otlp import OTLPIngest
from auditlog_tlog.server.ingest.otlp_convert import PROTOBUF
from auditlog_tlog.server.ingest.sink import IngestSink
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.status import status_of, trailer_of
from auditlog_tlog.tree.errors import AuditLogError, MalformedError

SERVICE: Final = logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"]
TRANSPORT: Final = "otlp-grpc"


def _identity(raw: bytes) -> bytes:
    return raw


def otlp_grpc_handler(ingest: OTLPIngest, sink: IngestSink, budget: ByteBudget,
                      bound: RequestBound, metrics: Metrics) -> grpc.GenericRpcHandler:
    """The LogsService handler: ``bound`` is the largest request accepted. Calls
    are counted as ``Export`` in ``auditlog_requests`` and ``auditlog_request_seconds``."""

    async def export(raw: bytes, context: Any) -> ExportLogsServiceResponse:
        size, held = len(raw), False
        started, code = time.perf_counter(), grpc.StatusCode.OK
        try:
            try:
                if size > bound.size:
                    raise MalformedError(f"Export request of {size} bytes, {bound.want()}")
                budget.take(size)
                held = True
            except AuditLogError as exc:
                sink.rejected(TRANSPORT, exc)  # the request as one: its records are unknown
                raise
            return await ingest.export(  # counts its refusals
                raw, PROTOBUF, TRANSPORT,
                lambda: sink.identify(context.invocation_metadata(), context.auth_context()))
        except AuditLogError as exc:
            exc.__traceback__ = None
            code = status_of(exc)
            await context.abort(code, clip(str(exc)), trailer_of(exc))
            raise AssertionError("unreachable: abort raises") from None
        finally:
            if held:
                budget.give(size)
            metrics.calls.call("Export", code.name, time.perf_counter() - started)

    handler = grpc.unary_unary_rpc_method_handler(
        export, request_deserializer=_identity,
        response_serializer=ExportLogsServiceResponse.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(SERVICE.full_name, {"Export": handler})
