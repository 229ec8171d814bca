"""The client's settings: a small TOML file, overridden by command-line flags.

Which file: ``--config PATH``, else ``$AUDITLOG_CONFIG``, else ``var/client.toml`` in the current
directory if it exists (``auditlog up`` writes that one), else none. Every key is optional::

    server = "127.0.0.1:7600"          # the log server's gRPC address
    log = "auditlog.example/payments"  # the log's origin (default: the server's only log)
    log_keys = ["auditlog.example/payments+1a2b3c4d+AU..."]  # the log's verifier key(s): the
                                       # trust anchor (during a key rotation, list both keys)
    hash = "sha256"                    # the log's hash function ("sha256" or "blake3")
    witness_keys = ["witness.example/w1+5e6f7a8b+BM..."]  # witnesses' verifier keys
    quorum = 1                         # k: cosignatures required of those n witnesses
    witness_urls = ["http://127.0.0.1:7700"]   # witnesses to ask what they last cosigned
    state_dir = "client-state"         # last verified checkpoint per log (default below)
    archive_dir = "witness/archive"    # a local witness archive, for ``auditlog audit``
    tls_ca_file = "ca.pem"             # TLS: trust this CA for the server (else plain text)
    tls_cert_file = "client.pem"       # mutual TLS: the client's certificate and key
    tls_key_file = "client.key"
    token_file = "token"               # a bearer token (or $AUDITLOG_TOKEN)

Relative paths are taken relative to the file's folder. Without a ``state_dir`` the client keeps
its state in ``$XDG_STATE_HOME/auditlog`` (``~/.local/state/auditlog``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from auditlog_tlog.client.verifier import TrustPolicy

DEFAULT_SERVER: Final = "127.0.0.1:7600"
DEFAULT_FILE: Final = Path("var/client.toml")
ENV_CONFIG: Final = "AUDITLOG_CONFIG"
ENV_TOKEN: Final = "AUDITLOG_TOKEN"
_PATHS: Final = {"state_dir", "archive_dir", "tls_ca_file", "tls_cert_file", "tls_key_file",
                 "token_file"}
_KEYS: Final = {"server", "log", "log_keys", "hash", "witness_keys", "witness_urls", "quorum",
                *_PATHS}


@dataclass(frozen=True, slots=True)
class Settings:
    server: str = DEFAULT_SERVER
    """The log server's gRPC address host:port (--server)."""
    log: str | None = None
    """The log's origin (--log); default: the server's only log."""
    log_keys: tuple[str, ...] = ()
    """The log's verifier key(s) (--log-key): the trust anchor; list both during a key rotation."""
    hash: str = "sha256"
    """The log's hash function, "sha256" or "blake3" (--hash)."""
    witness_keys: tuple[str, ...] = ()
    """Trusted witnesses' verifier keys (--witness-key)."""
    witness_urls: tuple[str, ...] = ()
    """Witnesses to ask what they last cosigned (--witness-url), for audit and monitor."""
    quorum: int | None = None
    """k: cosignatures required of the n witness keys (--quorum); default n."""
    state_dir: Path | None = None
    """Where the last verified checkpoint per log is kept (--state-dir); default
    $XDG_STATE_HOME/auditlog (~/.local/state/auditlog)."""
    archive_dir: Path | None = None
    """A local witness archive, for auditlog audit (--archive)."""
    tls_ca_file: Path | None = None
    """TLS: trust this CA for the server (--ca-file); without it, plain text."""
    tls_cert_file: Path | None = None
    """Mutual TLS: the client's certificate (--cert-file)."""
    tls_key_file: Path | None = None
    """Mutual TLS: the client's key (--key-file)."""
    token_file: Path | None = None
    """A bearer token file (--token-file); $AUDITLOG_TOKEN overrides it."""
    source: Path | None = None  # the file these came from, if any

    def token(self) -> str | None:
        """The bearer token: ``$AUDITLOG_TOKEN``, else the first line of ``token_file``."""
        if token := os.environ.get(ENV_TOKEN):
            return token.strip()
        if self.token_file is None:
            return None
        try:
            return self.token_file.read_text().strip() or None
        except OSError as exc:
            raise ValueError(f"cannot read token file {self.token_file}: {exc.strerror}") from None

    def credentials(self) -> tuple[bytes, bytes | None, bytes | None] | None:
        """(CA, client certificate, client key) PEM bytes for TLS, or None for plain text."""
        if self.tls_ca_file is None:
            if self.tls_cert_file or self.tls_key_file:
                raise ValueError("a client certificate needs TLS: give tls_ca_file (--ca-file) too")
            return None
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("mutual TLS needs both tls_cert_file and tls_key_file")
        try:
            ca = self.tls_ca_file.read_bytes()
            cert = self.tls_cert_file.read_bytes() if self.tls_cert_file else None
            key = self.tls_key_file.read_bytes() if self.tls_key_file else None
        except OSError as exc:
            raise ValueError(f"cannot read {exc.filename}: {exc.strerror}") from None
        return ca, cert, key

    def policy(self) -> TrustPolicy:
        """The trust policy, or ``ValueError`` saying which setting is missing."""
        if not self.log_keys:
            raise ValueError(
                "no log verifier key: pass --log-key VKEY (the log's operator publishes it; "
                "'auditlog serve' prints it) or --config FILE"
            )
        quorum = len(self.witness_keys) if self.quorum is None else self.quorum
        return TrustPolicy(self.log_keys, self.witness_keys, quorum, self.hash)

    def state_path(self) -> Path:
        if self.state_dir is not None:
            return self.state_dir
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(base) / "auditlog"


def _check(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    unknown = set(doc) - _KEYS
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}, want some of {sorted(_KEYS)}")
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "quorum":
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{path}: quorum = {value!r}, want an integer")
            out[key] = value
        elif key in ("witness_keys", "log_keys", "witness_urls"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{path}: {key} must be a list of strings")
            out[key] = tuple(value)
        elif not isinstance(value, str):
            raise ValueError(f"{path}: {key} = {value!r}, want a string")
        elif key in _PATHS:
            out[key] = path.parent / value if not Path(value).is_absolute() else Path(value)
        else:
            out[key] = value
    return out


def load_settings(path: Path | None, overrides: dict[str, Any]) -> Settings:
    """Read the settings file (see the module docstring) and apply non-None ``overrides``."""
    if path is None and (env := os.environ.get(ENV_CONFIG)):
        path = Path(env)
    if path is None and DEFAULT_FILE.is_file():
        path = DEFAULT_FILE
    settings = Settings()
    if path is not None:
        try:
            doc = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ValueError(f"cannot read client config {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"client config {path} is not valid TOML: {exc}") from None
        settings = Settings(**_check(doc, path), source=path)
    given = {k: v for k, v in overrides.items() if v is not None and v != ()}
    return replace(settings, **given)


def format_settings(s: Settings) -> str:
    """The TOML text of ``s`` (paths as given), as ``auditlog up`` writes it."""

    def q(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"server = {q(s.server)}"]
    if s.log:
        lines.append(f"log = {q(s.log)}")
    lines.append("log_keys = [" + ", ".join(q(k) for k in s.log_keys) + "]")
    lines.append(f"hash = {q(s.hash)}")
    lines.append("witness_keys = [" + ", ".join(q(k) for k in s.witness_keys) + "]")
    lines.append(f"quorum = {len(s.witness_keys) if s.quorum is None else s.quorum}")
    lines.append("witness_urls = [" + ", ".join(q(u) for u in s.witness_urls) + "]")
    if s.state_dir is not None:
        lines.append(f"state_dir = {q(str(s.state_dir))}")
    if s.archive_dir is not None:
        lines.append(f"archive_dir = {q(str(s.archive_dir))}")
    return "\n".join(lines) + "\n"
