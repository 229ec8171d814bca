"""Transport security of the gRPC listener: TLS, optional mutual TLS, and the loopback rule.

Plain text is allowed only on a loopback address, unless the operator sets ``insecure = true``,
in which case every start logs a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc

from auditlog_tlog.common.files import check_private_mode
from auditlog_tlog.common.net import is_loopback
from auditlog_tlog.server.security import TLSConfig

log = logging.getLogger("auditlog.server")


def server_credentials(tls: TLSConfig) -> grpc.ServerCredentials:
    check_private_mode(tls.key_file)
    ca = _read(tls.client_ca_file) if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(_read(tls.key_file), _read(tls.cert_file))],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


def add_port(server: grpc.aio.Server, listen: str, tls: TLSConfig | None, insecure: bool) -> int:
    """Listen on ``listen`` with TLS if configured; refuse plain text off loopback."""
    if tls is not None:
        return int(server.add_secure_port(listen, server_credentials(tls)))
    if not is_loopback(listen):
        if not insecure:
            raise ValueError(
                f"refusing plain-text gRPC on {listen}: configure [server.tls], listen on "
                "127.0.0.1, or set insecure = true in [server]"
            )
        log.warning("insecure = true: serving plain-text gRPC on %s; anyone on the path can "
                    "read and alter traffic", listen)
    return int(server.add_insecure_port(listen))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read TLS file {path}: {exc.strerror}") from exc
