"""OTLP logs (opentelemetry-proto ``collector/logs/v1``): one LogRecord, one entry.

Serves ``LogsService/Export`` for both transports (``server.ingest.otlp_grpc`` and the
``/v1/logs`` route of ``server.ingest.http``), following the OTLP specification
(opentelemetry.io/docs/specs/otlp): the answer comes only once every accepted record is
durable; records refused alone are counted in ``partial_success`` with the reasons; a request
the server cannot take now (a full queue, a quota, a store that is down) fails as a whole with
a retryable status, and the producer's retry is answered by dedup.

The request's bytes are parsed and its records written as entries by
server/ingest/otlp_convert.py, in a conversion worker when ``[ingest] workers`` is not 0
(server/ingest/pool.py), else in the server process; either way the same entries. Two
deliveries of one record give one entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from auditlog_tlog.server.ingest.config import Route
from auditlog_tlog.server.ingest.otlp_convert import (
    PROTOBUF,
    Routed,
    UnparsableError,
    as_dict,
    convert_export,
    parse_json,
    parse_protobuf,
)
from auditlog_tlog.server.ingest.pool import ConversionPool, WorkerLostError
from auditlog_tlog.server.ingest.sink import IngestSink
from auditlog_tlog.server.security import Principal
from auditlog_tlog.tree.errors import AuditLogError, PushbackError, StorageError

MAX_MESSAGES: Final = 5  # reasons quoted in partial_success.error_message


class OTLPIngest:
    """``Export`` for one transport: convert, route (by that listener's route), append
    durably, report partial success."""

    def __init__(self, sink: IngestSink, route: Route, pool: ConversionPool | None = None) -> None:
        self._sink = sink
        self._route = route
        self._pool = pool  # None: convert in the server process

    async def export(self, raw: bytes, encoding: str, transport: str,
                     identify: Callable[[], Principal | None]) -> ExportLogsServiceResponse:
        """The answer to the request in ``raw`` (``PROTOBUF`` or ``JSON``) once every accepted
        record is durable (module docstring); ``identify`` names the caller or raises why it
        is refused. A body that does not parse is refused for that first; every refusal of
        the request as a whole is counted."""
        try:
            principal = identify()
        except AuditLogError as denied:
            self._check_body(raw, encoding, transport)
            self._sink.rejected(transport, denied)
            raise
        name = principal.name if principal is not None else None
        try:
            if self._pool is None:
                by_log, refused = convert_export(raw, encoding, transport, name, self._route)
            else:
                routed: Routed = await self._pool.run(convert_export, raw, encoding, transport,
                                                      name, self._route)
                by_log, refused = routed
        except (UnparsableError, WorkerLostError) as failed:
            self._sink.rejected(transport, failed)  # the request as one: its records unknown
            raise
        for count, exc in refused:
            self._sink.rejected(transport, exc, count)
        rejected = sum(count for count, _ in refused)
        reasons = [str(exc) for _, exc in refused]
        accepted = 0
        refusal: AuditLogError | None = refused[0][1] if refused else None
        for log, entries in by_log.items():
            try:
                results = await self._sink.append_entries(principal, log, transport, entries)
            except (PushbackError, StorageError):
                raise  # retryable: the whole request fails, and dedup answers the retry
            except AuditLogError as exc:
                rejected += len(entries)
                reasons.append(f"log {log[:200]}: {exc}")
                refusal = refusal or exc
                continue
            refused_alone = [str(result) for result in results if result is not None]
            accepted += len(results) - len(refused_alone)
            rejected += len(refused_alone)
            reasons.extend(refused_alone)
        if not accepted and refusal is not None:
            raise refusal  # nothing taken, for a reason of the request's: its own status
        response = ExportLogsServiceResponse()
        if rejected:
            response.partial_success.rejected_log_records = rejected
            shown = "; ".join(dict.fromkeys(reasons[:MAX_MESSAGES]))
            more = f" (and {len(reasons) - MAX_MESSAGES} more)" if len(reasons) > MAX_MESSAGES else ""
            response.partial_success.error_message = (
                f"{rejected} of {rejected + accepted} log records rejected: {shown}{more}")
        return response

    def _check_body(self, raw: bytes, encoding: str, transport: str) -> None:
        """UnparsableError (counted) when ``raw`` is not a request in ``encoding``."""
        try:
            parse_protobuf(raw) if encoding == PROTOBUF else parse_json(raw)
        except UnparsableError as exc:
            self._sink.rejected(transport, exc)
            raise


def json_response(response: ExportLogsServiceResponse) -> bytes:
    """An ExportLogsServiceResponse as OTLP/JSON."""
    return json.dumps(as_dict(response), separators=(",", ":")).encode()


