"""Transport security of the gRPC listener: TLS and optional mutual TLS. Whether plain text
may be served is decided for every listener by ``common.net.check_listener``, which
``server.app`` calls before anything opens.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from auditlog_tlog.common.files import check_private_mode
from auditlog_tlog.server.security import TLSConfig


def server_credentials(tls: TLSConfig) -> grpc.ServerCredentials:
    check_private_mode(tls.key_file)
    ca = _read(tls.client_ca_file) if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(_read(tls.key_file), _read(tls.cert_file))],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


def add_port(server: grpc.aio.Server, listen: str, tls: TLSConfig | None) -> int:
    """Listen on ``listen`` with TLS if configured (``check_listener`` has allowed it)."""
    if tls is not None:
        return int(server.add_secure_port(listen, server_credentials(tls)))
    return int(server.add_insecure_port(listen))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read TLS file {path}: {exc.strerror}") from exc
