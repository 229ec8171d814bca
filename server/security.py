"""Who may do what: TLS settings, principals (token or certificate), roles per log, quotas.

Configuration::

    [server]
    listen = "0.0.0.0:7600"
    insecure = false                 # plain text on a non-loopback address; warned at every start

    [server.tls]
    cert_file = "tls/server.pem"     # the server's certificate chain (PEM)
    key_file = "tls/server.key"      # its private key (PEM, mode 0600)
    client_ca_file = "tls/ca.pem"    # mutual TLS: every client must present a certificate
                                     # chaining to this CA (gRPC cannot make it optional)

    [[principal]]
    name = "payments"
    token_sha256 = "<hex>"           # a bearer token, stored only as its SHA-256
    cert_names = ["payments.internal"]   # or identified by a client certificate CN / DNS SAN
    roles = { "example.com/payments" = ["append", "read"] }
    append_entries_per_s = 1000      # quota; 0 = unlimited
    append_bytes_per_s = 1048576

With no ``[[principal]]`` at all the server is open: anyone reaching it may append and read
(fine on loopback; elsewhere, pair it with TLS and principals). With principals, ``Append*``
needs ``append`` on that log, reads need ``read`` unless the log has ``public_read = true``,
``LegalHold`` (docs/retention.md) and ``Erase`` (docs/erasure.md) need ``admin``, and ``admin``
implies both others. Denials are UNAUTHENTICATED (no or unknown credential) or PERMISSION_DENIED
(known, but without the role), and never reach storage.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditlog_tlog.common.echo import echo
from auditlog_tlog.tree.errors import PermissionDeniedError, PushbackError, UnauthenticatedError

ROLES = ("append", "read", "admin")


@dataclass(frozen=True, slots=True)
class TLSConfig:
    cert_file: Path
    """The server's certificate chain (PEM)."""
    key_file: Path
    """Its private key (PEM, mode 0600)."""
    client_ca_file: Path | None = None
    """Mutual TLS: clients must present a certificate chaining to this CA (PEM)."""


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    """A name for logs and metrics. Required."""
    roles: dict[str, frozenset[str]]
    """Log origin (or "*") = list of roles: "append", "read", "admin"."""
    token_sha256: bytes | None = None
    """The SHA-256 of its bearer token, 64 hex digits (printf %s "$TOKEN" | sha256sum)."""
    cert_names: tuple[str, ...] = ()
    """Or: client certificate subject names (with mutual TLS) that identify it."""
    append_entries_per_s: float = 0.0
    """Quota: entries appended per second (0: unlimited); beyond it, pushback."""
    append_bytes_per_s: float = 0.0
    """Quota: bytes appended per second (0: unlimited)."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("[[principal]] needs a name")
        if self.token_sha256 is None and not self.cert_names:
            raise ValueError(f"principal {self.name}: give token_sha256 or cert_names")
        for log, roles in self.roles.items():
            unknown = set(roles) - set(ROLES)
            if unknown:
                raise ValueError(
                    f"principal {self.name}: roles {sorted(unknown)} on {log}, want {list(ROLES)}"
                )

    def has(self, log: str, role: str) -> bool:
        roles = self.roles.get(log, frozenset()) | self.roles.get("*", frozenset())
        return role in roles or "admin" in roles


def parse_tls(table: dict[str, Any], base: Path) -> TLSConfig:
    allowed = {"cert_file", "key_file", "client_ca_file"}
    unknown = set(table) - allowed
    if unknown:
        raise ValueError(f"[server.tls]: unknown keys {sorted(unknown)}, want some of {sorted(allowed)}")
    try:
        return TLSConfig(
            cert_file=base / table["cert_file"],
            key_file=base / table["key_file"],
            client_ca_file=base / table["client_ca_file"] if "client_ca_file" in table else None,
        )
    except KeyError as exc:
        raise ValueError(f"[server.tls]: {exc.args[0]} is required") from None


def parse_principal(table: dict[str, Any], where: str) -> Principal:
    allowed = {"name", "token_sha256", "cert_names", "roles", "append_entries_per_s",
               "append_bytes_per_s"}
    unknown = set(table) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}, want some of {sorted(allowed)}")
    token = table.get("token_sha256")
    digest = None
    if token is not None:
        try:
            digest = bytes.fromhex(token)
        except (TypeError, ValueError):
            digest = b""
        if len(digest) != 32:
            raise ValueError(f"{where}: token_sha256 must be 64 hex digits (sha256 of the token)")
    roles = table.get("roles", {})
    if not isinstance(roles, dict) or not all(isinstance(v, list) for v in roles.values()):
        raise ValueError(f"{where}: roles must be a table of log origin = [roles]")
    return Principal(
        name=str(table.get("name", "")),
        roles={log: frozenset(v) for log, v in roles.items()},
        token_sha256=digest,
        cert_names=tuple(table.get("cert_names", ())),
        append_entries_per_s=float(table.get("append_entries_per_s", 0)),
        append_bytes_per_s=float(table.get("append_bytes_per_s", 0)),
    )


def hash_token(token: str) -> str:
    """The value to put in token_sha256 for a bearer token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(slots=True)
class _Bucket:
    """A token bucket refilled at ``rate`` per second, holding at most one second's worth."""

    rate: float
    level: float
    stamp: float = field(default_factory=time.monotonic)

    def wait(self, amount: float) -> float:
        """Refill; 0 if ``amount`` may be taken now (:meth:`take` takes it), else the seconds
        to wait before retrying. Nothing is taken."""
        now = time.monotonic()
        self.level = min(self.rate, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if amount <= self.level or (amount > self.rate and self.level >= self.rate):
            return 0.0  # a batch larger than a second's worth may drain a full bucket
        return (amount - self.level) / self.rate

    def take(self, amount: float) -> None:
        self.level -= amount


class Authorizer:
    """Identifies callers and checks roles and quotas; ``open`` when no principal is configured."""

    def __init__(self, principals: tuple[Principal, ...], public_read: frozenset[str]) -> None:
        self.open = not principals
        self._public_read = public_read
        self._by_token = {p.token_sha256: p for p in principals if p.token_sha256}
        self._by_cert = {name: p for p in principals for name in p.cert_names}
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def identify_http(self, authorization: str | None) -> Principal | None:
        """The principal behind an HTTP request's ``Authorization`` header (None: anonymous)."""
        return self.identify([("authorization", authorization)] if authorization else [], {})

    def identify(self, metadata: Any, auth_context: dict[str, list[bytes]]) -> Principal | None:
        """The principal behind a call: a bearer token first, then the client certificate.

        More than one ``authorization`` value is refused: which one counted would depend on
        their order (a proxy that adds its own credential could be overtaken by the caller's)."""
        values = [value for key, value in metadata or () if key == "authorization"]
        if len(values) > 1:
            raise UnauthenticatedError(
                f"authorization metadata: got {len(values)} values, want one")
        if values:
            scheme, _, token = str(values[0]).partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise UnauthenticatedError("authorization metadata: want 'Bearer <token>'")
            # An HTTP header's bytes that are not UTF-8 arrive as lone surrogates
            # (aiohttp decodes with surrogateescape): hash the bytes as sent.
            digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
            for known, principal in self._by_token.items():
                if hmac.compare_digest(known, digest):
                    return principal
            raise UnauthenticatedError("unknown bearer token")
        for field_name in ("x509_subject_alternative_name", "x509_common_name"):
            for raw in auth_context.get(field_name, []):
                by_cert = self._by_cert.get(raw.decode(errors="replace"))
                if by_cert is not None:
                    return by_cert
        return None

    def may(self, principal: Principal | None, log: str, role: str) -> bool:
        """Whether ``principal`` (None: an anonymous caller) may act as ``role`` on ``log``."""
        if self.open or (role == "read" and log in self._public_read):
            return True
        return principal is not None and principal.has(log, role)

    def check(self, principal: Principal | None, log: str, role: str) -> None:
        if self.may(principal, log, role):
            return
        if principal is None:
            raise UnauthenticatedError(
                f"{role} on {echo(log)} needs a credential: a bearer token or a client certificate"
            )
        raise PermissionDeniedError(f"{principal.name} lacks the {role!r} role on {echo(log)}")

    def charge(self, principal: Principal | None, entries: int, size: int) -> None:
        """Apply the principal's append quotas; PushbackError with a retry hint when over."""
        if principal is None:
            return
        waits = []
        with self._lock:
            taken = []
            for unit, rate, amount in (("entries", principal.append_entries_per_s, entries),
                                       ("bytes", principal.append_bytes_per_s, size)):
                if rate <= 0:
                    continue
                bucket = self._buckets.setdefault((principal.name, unit), _Bucket(rate, rate))
                wait = bucket.wait(amount)
                if wait:
                    waits.append(f"{unit} quota of {rate:g}/s; retry after {wait:.2f} s")
                taken.append((bucket, amount))
            if not waits:  # both or neither: a refusal takes nothing from either bucket
                for bucket, amount in taken:
                    bucket.take(amount)
        if waits:
            raise PushbackError(f"{principal.name} is over its " + " and ".join(waits),
                                retry_after=0.1)
