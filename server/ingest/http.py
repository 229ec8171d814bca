"""The ingestion HTTP listener (``[ingest] http_listen``): OTLP/HTTP logs and the Kubernetes
audit webhook, on the shared aiohttp stack (common/http.py).

    POST /v1/logs      OTLP/HTTP (opentelemetry.io/docs/specs/otlp, "OTLP/HTTP"): an
                       ExportLogsServiceRequest as ``application/x-protobuf`` or
                       ``application/json``, optionally ``Content-Encoding: gzip``; answered
                       in the same encoding, 200 once every accepted record is durable
    POST /k8s/audit    an ``audit.k8s.io/v1`` EventList (server/ingest/kubernetes.py); 200
                       once every Event is durable (the path is configurable)

With ``[server.tls]`` the listener speaks TLS with the server's certificate; with its
``client_ca_file`` a client certificate is asked for but optional, so a producer is identified
by its certificate (CN or DNS SAN) or by ``Authorization: Bearer <token>``, the same
principals as gRPC. Bodies are bounded by ``[ingest] max_request_bytes`` (``[server]
max_inflight_bytes`` when that is lower; the refusal names which) before and after gunzip
(413) and held in the server's byte budget while handled; another ``Content-Type``, or a
``Content-Encoding`` other than gzip, deflate or identity, is 415 (RFC 9110 §15.5.16; the
latter with ``Accept-Encoding: gzip, deflate``). Errors are answered with the status of
:data:`HTTP_STATUS` and a one-line reason; 429 and 503 carry ``Retry-After``, which the OTLP
exporters and kube-apiserver retry.
"""

from __future__ import annotations

import ssl
from typing import Any, Final

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from auditlog_tlog.common.http import text_response
from auditlog_tlog.server.budget import ByteBudget
from auditlog_tlog.server.ingest.config import KubernetesConfig, RequestBound
from auditlog_tlog.server.ingest.kubernetes import TRANSPORT as K8S
from auditlog_tlog.server.ingest.kubernetes import event_records, parse_event_list
from auditlog_tlog.server.ingest.otlp import OTLPIngest, json_response
from auditlog_tlog.server.ingest.otlp_convert import JSON as JSON_ENCODING
from auditlog_tlog.server.ingest.otlp_convert import PROTOBUF as PROTOBUF_ENCODING
from auditlog_tlog.server.ingest.pool import WorkerLostError
from auditlog_tlog.server.ingest.sink import IngestSink
from auditlog_tlog.server.security import Principal, TLSConfig
from auditlog_tlog.storage.batch import AppendOutcome
from auditlog_tlog.tree import errors
from auditlog_tlog.tree.errors import AuditLogError, MalformedError, PushbackError

OTLP_HTTP: Final = "otlp-http"
PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
ENCODINGS: Final = {PROTOBUF: PROTOBUF_ENCODING, JSON: JSON_ENCODING}  # Content-Type -> encoding
CODINGS: Final = ("identity", "gzip", "deflate")  # what aiohttp inflates as the body arrives
HTTP_STATUS: Final[dict[type[AuditLogError], int]] = {
    errors.AuditLogError: 400,
    errors.VerificationError: 400,
    errors.MalformedError: 400,
    errors.InvalidRangeError: 400,
    errors.NotFoundError: 404,
    errors.ConflictError: 409,
    errors.PushbackError: 429,
    errors.PermissionDeniedError: 403,
    errors.UnauthenticatedError: 401,
    errors.StorageError: 503,
}


class TooLargeError(MalformedError):
    """A body larger than the bound (``[ingest] max_request_bytes``, or ``[server]
    max_inflight_bytes`` when lower), before or after gunzip (413)."""


class UnsupportedMediaError(MalformedError):
    """A ``Content-Type`` the route does not take (415, RFC 9110 §15.5.16)."""


class UnsupportedCodingError(UnsupportedMediaError):
    """A ``Content-Encoding`` other than those of :data:`CODINGS` (415, with the codings
    taken in ``Accept-Encoding``)."""


def http_status(exc: AuditLogError) -> int:
    if isinstance(exc, TooLargeError):
        return 413
    if isinstance(exc, UnsupportedMediaError):
        return 415
    return next(HTTP_STATUS[c] for c in type(exc).__mro__ if c in HTTP_STATUS)


def ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """TLS with the server's certificate; a client certificate optional, checked if sent."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file is not None:
        context.load_verify_locations(tls.client_ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _cert_names(peercert: Any) -> dict[str, list[bytes]]:
    """The client certificate's names in the shape of a gRPC auth context."""
    if not peercert:
        return {}
    common = [value.encode() for rdn in peercert.get("subject", ()) for key, value in rdn
              if key == "commonName"]
    alt = [value.encode() for kind, value in peercert.get("subjectAltName", ()) if kind == "DNS"]
    return {"x509_common_name": common, "x509_subject_alternative_name": alt}


class IngestHTTP:
    """The aiohttp application of the ingestion listener (module docstring)."""

    def __init__(self, sink: IngestSink, otlp: OTLPIngest | None,
                 kubernetes: KubernetesConfig | None, budget: ByteBudget,
                 bound: RequestBound) -> None:
        self._sink = sink
        self._otlp = otlp
        self._kubernetes = kubernetes
        self._budget = budget
        self._bound = bound

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self._bound.size)
        if self._otlp is not None:
            app.router.add_post("/v1/logs", self.logs)
        if self._kubernetes is not None:
            app.router.add_post(self._kubernetes.path, self.kubernetes)
        return app

    def _principal(self, request: web.Request) -> Principal | None:
        header = request.headers.get("Authorization")
        metadata = [("authorization", header)] if header else []
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport is not None else None
        return self._sink.identify(metadata, _cert_names(peercert))

    async def _body(self, request: web.Request) -> bytes:
        """The request body within the bound (TooLargeError beyond it). aiohttp undoes a
        ``Content-Encoding`` (gzip, deflate) as the bytes arrive, so the bound holds for
        the inflated body, read piece by piece: a gzip bomb costs one bound, not its size.
        A coding it does not undo (br, zstd, x-gzip, a list) would reach the parser as is."""
        codings = request.headers.getall("Content-Encoding", [])
        if len(codings) > 1 or (codings and codings[0].lower() not in CODINGS):
            raise UnsupportedCodingError(f"Content-Encoding {', '.join(codings)[:64]!r}, want "
                                         "one of gzip, deflate or identity")
        bound = self._bound
        if request.content_length is not None and request.content_length > bound.size:
            raise TooLargeError(f"body of {request.content_length} bytes, {bound.want()}")
        body = bytearray()
        try:
            async for piece in request.content.iter_chunked(64 * 1024):
                body += piece
                if len(body) > bound.size:
                    raise TooLargeError(f"body inflates to more than {bound.size} bytes, "
                                        f"{bound.want()}")
        except RequestPayloadError as exc:  # aiohttp's: a bad encoding or chunking
            raise MalformedError(f"body cannot be read: {str(exc).strip()[:200]}") from None
        return bytes(body)

    async def logs(self, request: web.Request) -> web.Response:
        """POST /v1/logs."""
        assert self._otlp is not None
        kind = request.content_type
        held = 0
        try:
            try:
                if kind not in (PROTOBUF, JSON):
                    raise UnsupportedMediaError(f"Content-Type {kind[:64]!r}, want {PROTOBUF} "
                                                f"or {JSON}")
                body = await self._body(request)
                self._budget.take(len(body))
                held = len(body)
            except AuditLogError as exc:
                self._sink.rejected(OTLP_HTTP, exc)
                raise
            response = await self._otlp.export(  # counts its refusals
                body, ENCODINGS[kind], OTLP_HTTP, lambda: self._principal(request))
        except AuditLogError as exc:
            return self._error(exc)
        finally:
            self._budget.give(held)
        if kind == PROTOBUF:
            return web.Response(body=response.SerializeToString(), content_type=PROTOBUF)
        return web.Response(body=json_response(response), content_type=JSON)

    async def kubernetes(self, request: web.Request) -> web.Response:
        """POST of an EventList: 200 once every Event is durable."""
        assert self._kubernetes is not None
        held = 0
        try:
            try:
                if request.content_type != JSON:
                    raise UnsupportedMediaError(f"Content-Type {request.content_type[:64]!r}, "
                                                f"want {JSON}")
                body = await self._body(request)
                self._budget.take(len(body))
                held = len(body)
                principal = self._principal(request)
                name = principal.name if principal is not None else None
                records = event_records(parse_event_list(body), name)
                log = self._kubernetes.route.pick(name, {})
            except AuditLogError as exc:
                self._sink.rejected(K8S, exc)
                raise
            results = await self._sink.append(principal, log, records)
        except AuditLogError as exc:
            return self._error(exc)
        finally:
            self._budget.give(held)
        refused = [(i, r) for i, r in enumerate(results) if not isinstance(r, AppendOutcome)]
        if refused:
            i, first = refused[0]
            return self._error(MalformedError(
                f"{len(refused)} of {len(results)} events rejected (the others are stored), "
                f"first items[{i}]: {first}"))
        return text_response(200, f"{len(results)} events stored")

    @staticmethod
    def _error(exc: AuditLogError) -> web.Response:
        status = http_status(exc)
        headers = None
        if isinstance(exc, PushbackError):
            headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
        if isinstance(exc, WorkerLostError):  # retry at once: the pool is started again
            headers = {"Retry-After": "1"}
        if isinstance(exc, UnsupportedCodingError):
            headers = {"Accept-Encoding": "gzip, deflate"}
        return text_response(status, str(exc), close=status == 413, headers=headers)


