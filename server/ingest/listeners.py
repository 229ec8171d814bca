"""The ingestion sources of one log server, assembled from ``[ingest]`` (docs/ingestion.md):
OTLP ``LogsService`` on the gRPC server, the ingestion HTTP listener (OTLP/HTTP and the
Kubernetes audit webhook), and the syslog and RELP listeners (docs/ingestion-syslog.md).
``server.app`` builds one :class:`Ingestion` and starts and stops it with the server; every
source shares one :class:`~auditlog_tlog.server.ingest.sink.IngestSink`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import grpc

from auditlog_tlog.common.clock import Clock, SystemClock
from auditlog_tlog.common.http import HTTPService, Limits
from auditlog_tlog.common.net import check_listener
from auditlog_tlog.server.budget import ByteBudget
from auditlog_tlog.server.config import ServerConfig
from auditlog_tlog.server.ingest.config import request_bound
from auditlog_tlog.server.ingest.sink import IngestSink
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.server.security import Authorizer

# The sources are imported only when configured (in Ingestion): a server without ingestion
# does not load OTLP's generated classes, the HTTP routes or the syslog framing (docs/startup.md).
if TYPE_CHECKING:
    from auditlog_tlog.server.ingest.otlp import OTLPIngest
    from auditlog_tlog.server.ingest.pool import ConversionPool
    from auditlog_tlog.server.ingest.syslog_server import SyslogServer


def check_ingest_listeners(config: ServerConfig) -> None:
    """The listener rule (common/net.py) for the ingestion listeners, before anything opens."""
    if config.ingest.http_listen:
        check_listener("ingest HTTP", config.ingest.http_listen, tls=config.tls is not None,
                       insecure=config.insecure, section="[server]", tls_section="[server.tls]")
    for syslog in config.ingest.syslog:
        check_listener(syslog.name, syslog.listen, tls=syslog.tls is not None,
                       insecure=syslog.insecure, section="[[ingest.syslog]]",
                       tls_section="[ingest.syslog.tls]")


class Ingestion:
    """The configured sources; ``receive`` is the gRPC receive limit they need."""

    def __init__(self, config: ServerConfig, logs: Mapping[str, LogRuntime],
                 authorizer: Authorizer, metrics: Metrics, budget: ByteBudget,
                 clock: Clock | None = None) -> None:
        ingest = config.ingest
        self.sink = IngestSink(logs, authorizer, metrics, ingest.personal)
        self.bound = request_bound(ingest.max_request_bytes, config.max_inflight_bytes)
        # Conversion workers only for a source that converts (not for the webhook alone).
        self.pool: ConversionPool | None = None
        if ingest.workers and (ingest.otlp or ingest.syslog):
            from auditlog_tlog.server.ingest.pool import ConversionPool

            self.pool = ConversionPool(ingest.workers, metrics)
        # One OTLPIngest per listener: each routes by its own route ([ingest.otlp.grpc],
        # [ingest.otlp.http]) or by the shared one.
        self.otlp_grpc: OTLPIngest | None = None
        self.otlp_http: OTLPIngest | None = None
        if ingest.otlp:
            from auditlog_tlog.server.ingest.otlp import OTLPIngest

            self.otlp_grpc = OTLPIngest(self.sink, ingest.otlp.grpc_route, self.pool)
            self.otlp_http = OTLPIngest(self.sink, ingest.otlp.http_route, self.pool)
        self.receive = self.bound.size if self.otlp_grpc is not None else 0
        self._budget = budget
        self._metrics = metrics
        self._http: HTTPService | None = None
        if ingest.http_listen and (ingest.otlp or ingest.kubernetes):
            from auditlog_tlog.server.ingest.http import IngestHTTP, ssl_context

            app = IngestHTTP(self.sink, self.otlp_http, ingest.kubernetes, budget,
                             self.bound).app()
            tls = ssl_context(config.tls) if config.tls is not None else None
            self._http = HTTPService(app, ingest.http_listen, Limits(), tls)
        self.scheme = "https" if config.tls is not None else "http"
        self.http_address = ""
        self.http_port = 0
        self.syslog: list[SyslogServer] = []
        if ingest.syslog:
            from auditlog_tlog.server.ingest.syslog_server import SyslogServer

            self.syslog = [SyslogServer(c, self.sink, clock or SystemClock(), self.pool)
                           for c in ingest.syslog]
        self.syslog_addresses: list[tuple[str, str]] = []  # (transport, address bound)

    def service_names(self) -> tuple[str, ...]:
        """The gRPC services added to the server (for reflection)."""
        if self.otlp_grpc is None:
            return ()
        from auditlog_tlog.server.ingest.otlp_grpc import SERVICE

        return (SERVICE.full_name,)

    def grpc_handlers(self) -> tuple[grpc.GenericRpcHandler, ...]:
        if self.otlp_grpc is None:
            return ()
        from auditlog_tlog.server.ingest.otlp_grpc import otlp_grpc_handler

        return (otlp_grpc_handler(self.otlp_grpc, self.sink, self._budget, self.bound,
                                  self._metrics),)

    async def start(self) -> None:
        if self.pool is not None:
            await self.pool.start()
        if self._http is not None:
            self.http_address = await self._http.start()
            self.http_port = self._http.port
        for listener in self.syslog:
            self.syslog_addresses.append((listener.config.name, await listener.start()))

    async def stop(self) -> None:
        for listener in self.syslog:
            await listener.stop()
        if self._http is not None:
            await self._http.stop()
        if self.pool is not None:
            await self.pool.stop()
