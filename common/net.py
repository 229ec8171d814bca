"""Listening addresses: one rule for every listener (gRPC, tiles, metrics, witness).

Plain text is acceptable only on a loopback address, unless the operator sets ``insecure``
for that listener's section; then every start logs a warning. :func:`check_listener` is the
one place that decides, and every listener calls it before it binds. :func:`format_address`
renders the address a socket really bound (port 0 becomes the ephemeral port, ``0.0.0.0``
stays ``0.0.0.0``) for the start-up lines.
"""

from __future__ import annotations

import ipaddress
import logging

log = logging.getLogger("auditlog.net")


def split_host_port(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` as (host, port); ValueError says what is wrong."""
    host, _, port = address.rpartition(":")
    if not host or not port.isascii() or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen address {address!r}: want host:port with a port 0..65535")
    return host.removeprefix("[").removesuffix("]"), int(port)


def is_loopback(address: str) -> bool:
    """Whether ``host:port`` (or ``[v6]:port``) names a loopback host."""
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listener(what: str, listen: str, *, tls: bool, insecure: bool, section: str,
                   tls_section: str | None = None) -> None:
    """Refuse to serve ``what`` in plain text on ``listen`` off loopback unless ``insecure``.

    ``tls``: the listener encrypts (then any address is fine). ``section``: where the operator
    sets ``insecure = true`` (e.g. "[server]"); ``tls_section``: where TLS is configured, if
    this listener offers it. Both are named in the refusal. Reads no file and opens no socket:
    call it before anything is started.
    """
    if tls or is_loopback(listen):
        return
    if not insecure:
        fix = f"configure {tls_section}, " if tls_section else ""
        raise ValueError(
            f"refusing plain-text {what} on {listen}: {fix}listen on a loopback address "
            f"(127.0.0.1), or set insecure = true in {section}"
        )
    log.warning("insecure = true: serving plain-text %s on %s; anyone on the path can read "
                "and alter traffic", what, listen)


def format_address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
