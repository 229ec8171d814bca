"""Configuration of the syslog and RELP listeners (docs/ingestion-syslog.md)::

    [[ingest.syslog]]
    listen = "0.0.0.0:6514"          # host:port; port 0 picks a free one (printed at start)
    transport = "tls"                # "tls" (RFC 5425), "tcp" (RFC 6587), "relp", "udp"
    log = "auditlog.example/syslog"  # where records go unless a rule below says otherwise
    log_by_principal = { "web" = "auditlog.example/web" }   # by the authenticated principal
    log_by_app = { "nginx" = "auditlog.example/web" }      # by the message's APP-NAME / TAG
    max_message_bytes = 65536        # a longer frame ends the connection (RELP: its DATALEN)
    max_connections = 256            # more are closed at once
    max_connections_per_peer = 64    # from one address: more are closed at once
    insecure = false                 # plain text (tcp, relp, udp) off loopback; warned
    udp = false                      # must be true for transport = "udp": UDP loses messages

    [ingest.syslog.tls]              # required for "tls", optional for "relp" (RELP over TLS)
    cert_file = "tls/server.pem"
    key_file = "tls/server.key"
    client_ca_file = "tls/ca.pem"    # mutual TLS: the client certificate names the principal

Routing: ``log_by_principal`` first, then ``log_by_app``, then ``log``. Principals, roles and
quotas are the server's (server/security.py): the sender needs ``append`` on the log.

Every value must have its TOML type, checked as every table of the file is (``typed`` of
server/log_tables.py): ``insecure = "false"`` or ``udp = 1`` is refused, not read as true, and
``max_connections = "64"`` is refused, not read as 64.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from auditlog_tlog.common.net import split_host_port
from auditlog_tlog.server.log_tables import check_keys, typed
from auditlog_tlog.server.security import TLSConfig, parse_tls

TRANSPORTS = ("tls", "tcp", "relp", "udp")


@dataclass(frozen=True, slots=True)
class SyslogListener:
    listen: str
    """host:port to listen on; port 0 picks a free one (printed at start)."""
    transport: str
    """"tls", "tcp", "relp" or "udp"."""
    log: str
    """The origin of the log records go to unless a rule below says otherwise."""
    log_by_principal: Mapping[str, str] = field(default_factory=dict)
    """Authenticated principal = log origin; checked first."""
    log_by_app: Mapping[str, str] = field(default_factory=dict)
    """APP-NAME (RFC 5424) or TAG (RFC 3164) = log origin; checked after log_by_principal."""
    tls: TLSConfig | None = None
    """[ingest.syslog.tls]: required for "tls", optional for "relp" (RELP over TLS)."""
    max_message_bytes: int = 65536
    """The longest message, in bytes (1..16 MiB); a longer frame ends the connection."""
    max_connections: int = 256
    """Connections at once; further ones are closed at once and counted."""
    max_connections_per_peer: int = 64
    """Connections at once from one address; further ones are closed and counted."""
    insecure: bool = False
    """Plain text (tcp, udp, relp without TLS) on a non-loopback address (warned at every start)."""
    udp: bool = False
    """Must be true for transport = "udp" (UDP loses messages without telling anyone)."""

    def __post_init__(self) -> None:
        split_host_port(self.listen)
        where = f"[[ingest.syslog]] {self.listen}"
        if self.transport not in TRANSPORTS:
            raise ValueError(f"{where}: transport {self.transport!r}, want one of {TRANSPORTS}")
        if self.transport == "tls" and self.tls is None:
            raise ValueError(f"{where}: transport 'tls' needs an [ingest.syslog.tls] table")
        if self.transport in ("tcp", "udp") and self.tls is not None:
            raise ValueError(f"{where}: transport {self.transport!r} takes no TLS, want 'tls'")
        if self.transport == "udp" and not self.udp:
            raise ValueError(f"{where}: UDP loses messages without telling anyone; set udp = "
                             "true to accept that, or use 'tls' or 'relp'")
        if not self.log:
            raise ValueError(f"{where}: log is required (the default log's origin)")
        if not 1 <= self.max_message_bytes <= 16 * 1024 * 1024:
            raise ValueError(f"{where}: max_message_bytes {self.max_message_bytes}, want 1..16 MiB")
        if self.max_connections < 1:
            raise ValueError(f"{where}: max_connections {self.max_connections}, want at least 1")
        if self.max_connections_per_peer < 1:
            raise ValueError(f"{where}: max_connections_per_peer "
                             f"{self.max_connections_per_peer}, want at least 1")

    @property
    def name(self) -> str:
        """The ``transport`` label of the entries and metrics of this listener."""
        if self.transport == "relp":
            return "relp-tls" if self.tls else "relp"
        return f"syslog-{self.transport}"

    def fixed_route(self, principal: str | None) -> str | None:
        """The log every message of ``principal`` goes to whatever its APP-NAME, or None when
        the APP-NAME decides (``route``)."""
        if principal is not None and principal in self.log_by_principal:
            return self.log_by_principal[principal]
        return None if self.log_by_app else self.log

    def route(self, principal: str | None, app_name: str | None) -> str:
        """The log a message goes to: by principal, else by APP-NAME, else the default."""
        if principal is not None and principal in self.log_by_principal:
            return self.log_by_principal[principal]
        if app_name is not None and app_name in self.log_by_app:
            return self.log_by_app[app_name]
        return self.log


_KEYS = {"listen", "transport", "log", "log_by_principal", "log_by_app", "tls",
         "max_message_bytes", "max_connections", "max_connections_per_peer", "insecure", "udp"}


def parse_syslog_listeners(tables: Any, base: Path, origins: set[str]) -> tuple[SyslogListener, ...]:
    """``[[ingest.syslog]]`` tables as listeners; every log named must be in ``origins``."""
    if not isinstance(tables, list):
        raise ValueError("[ingest] syslog must be an array of tables: [[ingest.syslog]]")
    listeners = []
    for i, table in enumerate(tables):
        where = f"[[ingest.syslog]] #{i + 1}"
        if not isinstance(table, dict):
            raise ValueError(f"{where}: want a table")
        unknown = set(table) - _KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}, want some of {sorted(_KEYS)}")
        for key in ("log_by_principal", "log_by_app"):
            rules = table.get(key, {})
            if not isinstance(rules, dict) or not all(isinstance(v, str) for v in rules.values()):
                raise ValueError(f"{where}: {key} must be a table of name = \"log origin\"")
        if "tls" in table:
            _check_tls(table["tls"], where)
        # Strings, integers and booleans as TOML types, never coerced: bool("false") is True.
        values = typed(SyslogListener, {k: v for k, v in table.items()
                                        if k not in ("tls", "log_by_principal", "log_by_app")},
                       where, base)
        for key in ("listen", "transport", "log"):  # missing: refused by __post_init__, by name
            values.setdefault(key, "")
        try:
            listener = SyslogListener(
                **values,
                log_by_principal=dict(table.get("log_by_principal", {})),
                log_by_app=dict(table.get("log_by_app", {})),
                tls=parse_tls(table["tls"], base) if "tls" in table else None,
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
        named = {listener.log, *listener.log_by_principal.values(), *listener.log_by_app.values()}
        missing = named - origins
        if missing:
            raise ValueError(f"{where}: logs {sorted(missing)} are not configured, want some of "
                             f"{sorted(origins)}")
        listeners.append(listener)
    return tuple(listeners)


def _check_tls(tls: Any, where: str) -> None:
    """Refuse an ``[ingest.syslog.tls]`` that is not a table of path strings, by its own name
    (``parse_tls`` reads it as the server's ``[server.tls]``)."""
    if not isinstance(tls, dict):
        raise ValueError(f"{where}.tls: got {tls!r}, want a table [ingest.syslog.tls]")
    check_keys(tls, {f.name for f in fields(TLSConfig)}, f"{where} [ingest.syslog.tls]")
    for key in ("cert_file", "key_file"):
        if key not in tls:
            raise ValueError(f"{where} [ingest.syslog.tls]: {key} is required")
    for key, value in tls.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{where} [ingest.syslog.tls].{key}: got {value!r}, want a path string")
