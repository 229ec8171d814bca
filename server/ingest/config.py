"""Configuration of the ingestion sources (docs/ingestion.md), parsed from ``[ingest]``.

Example::

    [ingest]
    http_listen = "127.0.0.1:4318"     # OTLP/HTTP POST /v1/logs and the Kubernetes audit
                                       # webhook; TLS with [server.tls] when it is configured
                                       # (a client certificate is then optional: mTLS or token)
    max_request_bytes = 16777216       # largest OTLP Export (gRPC or HTTP, after gunzip) or
                                       # EventList body accepted ([server] max_inflight_bytes
                                       # instead, when that is lower: request_bound)
    workers = 1                        # conversion processes (server/ingest/pool.py); 0: none

    [ingest.otlp]                      # LogsService/Export on the gRPC listener, /v1/logs
    log = "auditlog.example/app"       # the default log
    log_attribute = "auditlog.log"     # a resource attribute that names the log
    log_by_principal = { payments = "auditlog.example/payments" }

    [ingest.otlp.http]                 # optional: POST /v1/logs routes by this instead
    log = "auditlog.example/web"       # ([ingest.otlp.grpc] likewise for the gRPC listener)

    [[ingest.syslog]]                  # syslog (TLS, TCP, UDP) and RELP listeners:
    ...                                # server/ingest/syslog_config.py

    [ingest.personal]                  # fields kept apart as erasable addenda:
    ...                                # server/ingest/personal.py, docs/erasure.md

    [ingest.kubernetes]                # POST <path> on the ingest HTTP listener
    path = "/k8s/audit"
    log = "auditlog.example/k8s"
    log_by_principal = { }

Which log a record goes to (:class:`Route`): the principal's entry in ``log_by_principal``,
else the resource attribute named by ``log_attribute``, else ``log``; without any, the record
is rejected. The principal still needs the ``append`` role on that log. The route is per
listener: ``[ingest.otlp.grpc]`` and ``[ingest.otlp.http]`` take the same keys and, when
present, replace the whole route of ``[ingest.otlp]`` for their listener (no key of it is
inherited); a listener without one routes by ``[ingest.otlp]``'s.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from auditlog_tlog.server.ingest.personal import PersonalConfig, parse_personal
from auditlog_tlog.server.ingest.syslog_config import SyslogListener, parse_syslog_listeners
from auditlog_tlog.tree.errors import NotFoundError

ROUTE_KEYS: Final = frozenset({"log", "log_attribute", "log_by_principal"})
LISTENERS: Final = ("grpc", "http")  # [ingest.otlp.<listener>]: a route of its own
DEFAULT_MAX_REQUEST: Final = 16 * 1024 * 1024  # above kube-apiserver's 10 MiB webhook batches
MAX_WORKERS: Final = 64


def default_workers() -> int:
    """One conversion worker where there is a second core for it, else none (docs/ingestion.md,
    "Conversion workers")."""
    return 1 if (os.cpu_count() or 1) >= 2 else 0


@dataclass(frozen=True, slots=True)
class Route:
    """Which log a listener's records go to (module docstring)."""

    log: str = ""
    """The default log (an origin of a [[log]]); "" for none."""
    attribute: str = ""
    """OTLP: a resource attribute whose value names the log ("" for none)."""
    by_principal: Mapping[str, str] = field(default_factory=dict)
    """The log of each principal, by its name; wins over the attribute and the default."""

    def pick(self, principal: str | None, attributes: Mapping[str, str]) -> str:
        """The log for a record of ``principal`` carrying (resource) ``attributes``."""
        if principal is not None and principal in self.by_principal:
            return self.by_principal[principal]
        if self.attribute and self.attribute in attributes:
            return attributes[self.attribute]
        if self.log:
            return self.log
        want = f"the resource attribute {self.attribute!r}" if self.attribute else "a principal"
        raise NotFoundError(f"no log for this record: want {want} with a configured log, "
                            "or a default log for this source")

    def logs(self) -> set[str]:
        """Every log this route names in the configuration."""
        return ({self.log} if self.log else set()) | set(self.by_principal.values())


@dataclass(frozen=True, slots=True)
class OTLPConfig:
    route: Route
    """Which log each record goes to (the keys of the route table), on a listener without a
    route of its own."""
    grpc: Route | None = None
    """[ingest.otlp.grpc]: the route of LogsService/Export on the gRPC listener instead."""
    http: Route | None = None
    """[ingest.otlp.http]: the route of POST /v1/logs on the ingest HTTP listener instead."""

    @property
    def grpc_route(self) -> Route:
        """The route of OTLP/gRPC: its own, else the shared one."""
        return self.route if self.grpc is None else self.grpc

    @property
    def http_route(self) -> Route:
        """The route of OTLP/HTTP: its own, else the shared one."""
        return self.route if self.http is None else self.http


@dataclass(frozen=True, slots=True)
class KubernetesConfig:
    route: Route
    """Which log the Events go to (the keys of the route table)."""
    path: str = "/k8s/audit"
    """The URL path kube-apiserver POSTs its EventLists to."""

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or self.path == "/v1/logs":
            raise ValueError(f"[ingest.kubernetes] path {self.path!r}: want an absolute path "
                             "other than /v1/logs")


@dataclass(frozen=True, slots=True)
class RequestBound:
    """The largest ingestion request taken (OTLP Export on either transport, an EventList), and
    the setting it comes from, for the message that refuses a larger one."""

    size: int
    """In bytes, after gunzip."""
    setting: str
    """The setting that sets ``size``, as a refusal names it."""

    def want(self) -> str:
        """The "want" half of a refusal: ``want at most N bytes (setting)``."""
        return f"want at most {self.size} bytes ({self.setting})"


def request_bound(max_request_bytes: int, max_inflight_bytes: int) -> RequestBound:
    """``[ingest] max_request_bytes``, or ``[server] max_inflight_bytes`` when that is lower:
    a request is held whole in the server's byte budget, so a larger one could never fit."""
    if max_inflight_bytes < max_request_bytes:
        return RequestBound(max_inflight_bytes,
                            "[server] max_inflight_bytes, lower than [ingest] max_request_bytes")
    return RequestBound(max_request_bytes, "[ingest] max_request_bytes")


@dataclass(frozen=True, slots=True)
class IngestConfig:
    http_listen: str = ""
    """host:port of the ingest HTTP listener (OTLP/HTTP, the webhook); TLS with [server.tls];
    "" turns it off."""
    max_request_bytes: int = DEFAULT_MAX_REQUEST
    """The largest OTLP Export (gRPC or HTTP, after gunzip) or EventList accepted, in bytes
    (1024..268435456); [server] max_inflight_bytes bounds it too, when that is lower."""
    otlp: OTLPConfig | None = None
    """[ingest.otlp]: OTLP logs on the gRPC listener and POST /v1/logs (off when absent)."""
    kubernetes: KubernetesConfig | None = None
    """[ingest.kubernetes]: the Kubernetes audit webhook (off when absent)."""
    syslog: tuple[SyslogListener, ...] = ()
    """[[ingest.syslog]]: syslog and RELP listeners (docs/ingestion-syslog.md)."""
    personal: PersonalConfig | None = None
    """[ingest.personal]: record fields kept apart as erasable addenda (docs/erasure.md)."""
    workers: int = field(default_factory=default_workers)
    """Processes that parse requests and write their entries off the server's GIL (OTLP, syslog,
    RELP); 0 converts in the server process; default 1 with two cores or more, else 0."""

    def __post_init__(self) -> None:
        if not 0 <= self.workers <= MAX_WORKERS:
            raise ValueError(f"[ingest] workers = {self.workers}, want 0..{MAX_WORKERS}")
        if not 1024 <= self.max_request_bytes <= 256 * 1024 * 1024:
            raise ValueError(f"[ingest] max_request_bytes = {self.max_request_bytes}, "
                             "want 1024..268435456")
        if self.kubernetes is not None and not self.http_listen:
            raise ValueError("[ingest.kubernetes] needs [ingest] http_listen")
        if self.otlp is not None and self.otlp.http is not None and not self.http_listen:
            raise ValueError("[ingest.otlp.http] needs [ingest] http_listen")
        # A listener whose route names no log would refuse every record it is sent.
        # The table that gives each listener its route: its own, or the one it inherits.
        routes = []
        otlp = self.otlp
        if otlp is not None:
            for name, own, listening in (("grpc", otlp.grpc, True),
                                         ("http", otlp.http, bool(self.http_listen))):
                if listening:
                    where = (f"[ingest.otlp.{name}]" if own is not None
                             else f"[ingest.otlp] (the route of OTLP/{name.upper()})")
                    routes.append((where, own or otlp.route))
        if self.kubernetes is not None:
            routes.append(("[ingest.kubernetes]", self.kubernetes.route))
        for where, route in routes:
            if not route.logs() and not route.attribute:
                raise ValueError(f"{where}: no log to route records to, want log, log_attribute "
                                 "or log_by_principal")


def _check_keys(table: Mapping[str, Any], allowed: Set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}, want some of {sorted(allowed)}")


def _string(table: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{where}.{key}: got {value!r}, want a string")
    return value


def _route(table: Mapping[str, Any], where: str, origins: set[str]) -> Route:
    by_principal = table.get("log_by_principal", {})
    if not isinstance(by_principal, dict) or not all(
            isinstance(v, str) for v in by_principal.values()):
        raise ValueError(f"{where}.log_by_principal: want a table of principal = log origin")
    route = Route(_string(table, "log", where), _string(table, "log_attribute", where),
                  dict(by_principal))
    unknown = route.logs() - origins
    if unknown:
        raise ValueError(f"{where}: logs {sorted(unknown)} are not configured, want some of "
                         f"{sorted(origins)}")
    return route


def _otlp(table: Any, origins: set[str]) -> OTLPConfig:
    """``[ingest.otlp]`` and its optional per-listener routes, ``[ingest.otlp.grpc]`` and
    ``[ingest.otlp.http]``, each checked as the shared route is."""

    def route(value: Any, where: str, keys: frozenset[str]) -> Route:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: got {value!r}, want a table")
        _check_keys(value, keys, where)
        return _route(value, where, origins)

    shared = route(table, "[ingest.otlp]", ROUTE_KEYS | set(LISTENERS))
    own = {name: route(table[name], f"[ingest.otlp.{name}]", ROUTE_KEYS)
           for name in LISTENERS if name in table}
    return OTLPConfig(shared, own.get("grpc"), own.get("http"))


def parse_ingest(table: Mapping[str, Any], origins: set[str], base: Path) -> IngestConfig:
    """The ``[ingest]`` table of a server config; ``origins``: the configured logs; ``base``:
    the folder relative paths (TLS files) are taken from."""
    if not isinstance(table, dict):
        raise ValueError("[ingest]: want a table")
    _check_keys(table, {"http_listen", "max_request_bytes", "otlp", "kubernetes", "syslog",
                        "personal", "workers"}, "[ingest]")
    otlp = kubernetes = None
    if "otlp" in table:
        otlp = _otlp(table["otlp"], origins)
    if "kubernetes" in table:
        where = "[ingest.kubernetes]"
        _check_keys(table["kubernetes"], {"path", "log", "log_by_principal"}, where)
        kubernetes = KubernetesConfig(_route(table["kubernetes"], where, origins),
                                      _string(table["kubernetes"], "path", where, "/k8s/audit"))
    size = table.get("max_request_bytes", DEFAULT_MAX_REQUEST)
    if not isinstance(size, int) or isinstance(size, bool):
        raise ValueError(f"[ingest].max_request_bytes: got {size!r}, want an integer")
    syslog = parse_syslog_listeners(table.get("syslog", []), base, origins)
    personal = parse_personal(table["personal"]) if "personal" in table else None
    workers = table.get("workers", default_workers())
    if not isinstance(workers, int) or isinstance(workers, bool):
        raise ValueError(f"[ingest].workers: got {workers!r}, want an integer")
    return IngestConfig(_string(table, "http_listen", "[ingest]"), size, otlp, kubernetes, syslog,
                        personal, workers)
