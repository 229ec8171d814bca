"""Transport security of the witness: TLS (optionally mutual) for its tlog-witness HTTP API, TLS,
client certificates and a bearer token for pull mode's gRPC dial, and the loopback rule.

The rule, as for the log server (issue 7): plain text only on a loopback address, unless the
operator sets ``insecure = true``, and then a warning at every start. It applies to the HTTP
listener (``[witness] insecure``) and to each pull connection (``[[log]] insecure``).
Everything a witness exchanges is signed, so plain text cannot make it cosign a lie; TLS keeps
the traffic private, and mutual TLS keeps strangers from spending the witness's work.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import grpc

from auditlog_tlog.common.files import check_private_mode
from auditlog_tlog.common.net import check_listener, is_loopback
from auditlog_tlog.witness.config import LogEntry, TLSConfig, WitnessConfig

log = logging.getLogger("auditlog.witness")


def check_transport(config: WitnessConfig) -> None:
    """Refuse plain text off loopback unless ``insecure``; warn when insecure is in use.

    Reads no file and opens no socket: call it first, before anything is started.
    """
    if config.listen:
        check_listener("tlog-witness HTTP", config.listen, tls=config.tls is not None,
                       insecure=config.insecure, section="[witness]",
                       tls_section="[witness.tls]")
    if config.metrics_listen:
        check_listener("metrics HTTP", config.metrics_listen, tls=False,
                       insecure=config.insecure, section="[witness]")
    for entry in config.logs:
        if not entry.grpc or entry.ca_file is not None or is_loopback(entry.grpc):
            continue
        if not entry.insecure:
            raise ValueError(
                f"[[log]] {entry.origin}: refusing plain-text gRPC to {entry.grpc}: give ca_file "
                "(TLS), dial a loopback address, or set insecure = true in that [[log]]"
            )
        log.warning("insecure = true: pulling %s over plain-text gRPC from %s%s", entry.origin,
                    entry.grpc, " with a bearer token anyone on the path can read"
                    if entry.token_file else "")


def server_context(tls: TLSConfig) -> ssl.SSLContext:
    """The HTTP listener's TLS context; with ``client_ca_file`` every client needs a
    certificate chaining to that CA."""
    check_private_mode(tls.key_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.client_ca_file is not None:
            context.load_verify_locations(cafile=tls.client_ca_file)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"[witness.tls]: cannot load {_which(exc, tls)}: {exc}") from exc
    return context


def _which(exc: BaseException, tls: TLSConfig) -> str:
    filename = getattr(exc, "filename", None)
    if filename:
        return str(filename)
    files = [tls.cert_file, tls.key_file, *([tls.client_ca_file] if tls.client_ca_file else [])]
    return "one of " + ", ".join(str(f) for f in files)


def channel_credentials(entry: LogEntry) -> grpc.ChannelCredentials | None:
    """TLS credentials for pulling ``entry`` (None: plain text)."""
    if entry.ca_file is None:
        return None
    key = cert = None
    if entry.client_key_file is not None and entry.client_cert_file is not None:
        check_private_mode(entry.client_key_file)
        key, cert = _read(entry.client_key_file), _read(entry.client_cert_file)
    return grpc.ssl_channel_credentials(
        root_certificates=_read(entry.ca_file), private_key=key, certificate_chain=cert
    )


def read_token(entry: LogEntry) -> str | None:
    """The bearer token of ``entry`` (its file must be mode 0600, like a private key)."""
    if entry.token_file is None:
        return None
    check_private_mode(entry.token_file, "token file")
    token = _read(entry.token_file).decode(errors="replace").strip()
    if not token or any(c.isspace() or not c.isprintable() for c in token):
        raise ValueError(f"token file {entry.token_file}: want one line holding the token")
    return token


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
