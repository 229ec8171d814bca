"""The witness's configuration: a TOML file (every key: docs/configuration.md).

Example (``name`` and at least one ``[[log]]`` are required)::

    [witness]
    name = "witness.example/w1"      # the cosigner key name
    key_file = "witness.key"         # created (mode 0600) on first start if missing
    listen = "127.0.0.1:7700"        # tlog-witness HTTP; "" turns HTTP off (pull mode only)
    prefix = ""                      # submission prefix: POST <prefix>/add-checkpoint
    state_dir = "state"
    refresh_s = 60                   # re-answer the same checkpoint this long without re-signing
    insecure = false                 # plain HTTP on a non-loopback listen address (without
                                     # [witness.tls]) and for metrics_listen; warned at start
    max_connections = 1024           # open HTTP connections in total (503 beyond)
    max_connections_per_peer = 64    # open HTTP connections per client address (503 beyond)
    request_timeout_s = 10           # total time one HTTP request may take (408 or closed)
    max_inflight_bytes = 67108864    # add-checkpoint bodies over 64 KiB held at once (503
                                     # beyond); pushes are smaller and never refused for it
    metrics_listen = ""              # Prometheus /metrics and /healthz, e.g. "127.0.0.1:7701"

    [witness.tls]                    # optional: serve HTTPS (witness/tls.py)
    cert_file = "tls/witness.pem"    # the witness's certificate chain (PEM)
    key_file = "tls/witness.key"     # its private key (PEM); mode 0600 or the witness won't start
    client_ca_file = "tls/ca.pem"    # optional: mutual TLS, every client (every log) must
                                     # present a certificate chaining to this CA

    [[witness.key]]                  # optional, instead of key_file: several keys, for rotation
    file = "witness-2026.key"        # mode 0600; an active key's file is created if missing
    state = "active"                 # every "active" key cosigns every checkpoint (one line
    since = "2026-01-01"             # each); "retired" keys sign nothing and are only listed
    # until = "2026-06-30"           # (give vkey = "..." instead of file once the file is gone)

    [archive]
    type = "local"                   # the default; or "s3"
    dir = "archive"                  # local only
    # s3: bucket = "...", retention_days = 3650, endpoint_url = "http://...", region = "...",
    #     prefix = "witness/", max_attempts = 5; credentials from boto3's usual chain. At
    #     start the bucket is checked and probed with a locked canary (common/s3.py); prepare
    #     it with `auditlog bucket init`.

    [[log]]
    origin = "auditlog.example/payments"
    vkey = "auditlog.example/payments+1a2b3c4d+AQ..."   # or a list of vkeys
    grpc = "log.example:7600"        # optional: pull mode, poll this gRPC address
    poll_interval_s = 10
    ca_file = "tls/log-ca.pem"       # pull over TLS, trusting this CA (a public CA's bundle works
                                     # too); without it, plain text, only to a loopback address
    client_cert_file = "tls/w1.pem"  # optional: mutual TLS, for a log that requires it
    client_key_file = "tls/w1.key"   #   (mode 0600)
    token_file = "log.token"         # optional: sent as "authorization: Bearer <token>" (mode
                                     # 0600); the log needs no role for AddCosignature, and
                                     # "read" on this log unless its reads are public
    insecure = false                 # plain-text gRPC to a non-loopback address; warned at
                                     # every start

Relative paths are taken relative to the config file's folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from auditlog_tlog.common.keys import KeyConfig
from auditlog_tlog.common.tables import array_of_tables, one_table
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.hashing import get_hasher
from auditlog_tlog.tree.keys import SIG_TYPE_ED25519, key_name_problem, split_vkey
from auditlog_tlog.tree.witness_protocol import MAX_BODY_SIZE

# Add-checkpoint bodies over witness.httpd.SMALL_BODY held at once, in total: each counts its
# Content-Length from its headers until it is answered; beyond it, 503.
MAX_INFLIGHT_BYTES: Final = 64 * 1024 * 1024

DEFAULT_LISTEN = "127.0.0.1:7700"


@dataclass(frozen=True, slots=True)
class LogEntry:
    origin: str
    """The log's origin (its checkpoints' first line). Required."""
    vkeys: tuple[str, ...]
    """The log's verifier key (a string), or a list of them during a key rotation. Required."""
    hash: str = "sha256"
    """The log's hash: "sha256" or "blake3"."""
    grpc: str = ""
    """Pull mode: poll the log's gRPC address host:port (else the log pushes)."""
    poll_interval_s: float = 10.0
    """Pull mode: seconds between polls (0.05..86400)."""
    ca_file: Path | None = None
    """Pull over TLS, trusting this CA (PEM); without it, plain text, only to a loopback address."""
    client_cert_file: Path | None = None
    """Pull mode, mutual TLS: the witness's client certificate (PEM)."""
    client_key_file: Path | None = None
    """Its private key (PEM, mode 0600)."""
    token_file: Path | None = None
    """Pull mode: a bearer token file (mode 0600) for a log with principals."""
    insecure: bool = False
    """Pull plain-text gRPC from a non-loopback address (warned at every start)."""

    def __post_init__(self) -> None:
        where = f"[[log]] {self.origin}"
        pull_only = ("ca_file", "client_cert_file", "client_key_file", "token_file", "insecure")
        given = [name for name in pull_only if getattr(self, name)]
        if given and not self.grpc:
            raise ValueError(f"{where}: {', '.join(given)} only apply to pull mode: give grpc too")
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError(f"{where}: mutual TLS needs both client_cert_file and client_key_file")
        if self.client_cert_file is not None and self.ca_file is None:
            raise ValueError(f"{where}: a client certificate needs TLS: give ca_file too")


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """``[witness.tls]``: the HTTPS listener's certificate and key, and for mutual TLS the CA
    that client certificates must chain to."""

    cert_file: Path
    """The witness's certificate chain (PEM)."""
    key_file: Path
    """Its private key (PEM); mode 0600 or the witness will not start."""
    client_ca_file: Path | None = None
    """Mutual TLS: every log must present a certificate chaining to this CA."""


@dataclass(frozen=True, slots=True)
class ArchiveConfig:
    type: str = "local"
    """"local" (write-once files in dir) or "s3" (a bucket with Object Lock in COMPLIANCE mode)."""
    dir: Path = Path("archive")
    """local: the archive directory."""
    bucket: str = ""
    """s3: the bucket (required for s3)."""
    retention_days: int = 3650
    """s3: Object Lock retention of each archived object, in days."""
    endpoint_url: str = ""
    """s3: the S3 API endpoint (MinIO, Ceph); "" for AWS."""
    region: str = ""
    """s3: the region; "" for boto3's default."""
    prefix: str = ""
    """s3: a key prefix for every object, e.g. "witness/"."""
    max_attempts: int = 5
    """s3: attempts per put before the witness refuses to answer (1..20, checked at start)."""


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    name: str
    """The witness's name: its cosigner key name, e.g. witness.example/w1. Required."""
    key_file: Path
    """The witness's cosigning key; created (mode 0600) on first start if missing."""
    state_dir: Path
    """What the witness last cosigned, per log."""
    archive: ArchiveConfig
    """[archive]: where cosigned checkpoints are archived."""
    logs: tuple[LogEntry, ...]
    """[[log]] tables: the logs this witness witnesses (at least one)."""
    listen: str = DEFAULT_LISTEN
    """tlog-witness HTTP address host:port; "" turns HTTP off (pull mode only)."""
    prefix: str = ""
    """Submission prefix: POST <prefix>/add-checkpoint."""
    refresh_s: float = 60.0
    """Re-answer the same checkpoint for this long without signing again, in seconds (0..86400)."""
    max_connections: int = 1024
    """HTTP connections served at once, in total (1..10000); beyond it, 503."""
    insecure: bool = False
    """Plain HTTP on a non-loopback listen address, without [witness.tls] (warned at every start)."""
    max_connections_per_peer: int = 64
    """HTTP connections served at once from one peer address (1..max_connections); beyond it, 503."""
    request_timeout_s: float = 10.0
    """Total time a request may take, headers, body and answer, in seconds (above 0, at most 3600);
    beyond it, 408."""
    max_inflight_bytes: int = MAX_INFLIGHT_BYTES
    """Add-checkpoint bodies over 64 KiB held at once, by Content-Length, from headers to
    answer (at least the largest body); beyond it, 503 with Retry-After. Pushes are smaller."""
    metrics_listen: str = ""
    """Prometheus metrics HTTP address host:port (/metrics, /healthz); "" turns it off."""
    tls: TLSConfig | None = None
    """[witness.tls]: serve HTTPS."""
    keys: tuple[KeyConfig, ...] = ()
    """[[witness.key]] tables: several cosigning keys, for rotation (instead of key_file)."""


def _take(table: dict[str, Any], key: str, kind: type, where: str, default: Any) -> Any:
    value = table.pop(key, default)
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ValueError(f"{where}.{key}: got {value!r}, want {kind.__name__}")
    return value


def _path(base: Path, value: str) -> Path:
    return Path(value) if Path(value).is_absolute() else base / value


def _done(table: dict[str, Any], where: str) -> None:
    if table:
        raise ValueError(f"{where}: unknown keys {sorted(table)}")


def _optional_path(table: dict[str, Any], key: str, where: str, base: Path) -> Path | None:
    value = _take(table, key, str, where, "")
    return _path(base, value) if value else None


def _tls(table: Any, base: Path) -> TLSConfig:
    where = "[witness.tls]"
    if not isinstance(table, dict):
        raise ValueError(f"{where}: want a table with cert_file, key_file and client_ca_file")
    table = dict(table)
    cert, key = (_optional_path(table, k, where, base) for k in ("cert_file", "key_file"))
    if cert is None or key is None:
        raise ValueError(f"{where}: cert_file and key_file are required")
    config = TLSConfig(cert, key, _optional_path(table, "client_ca_file", where, base))
    _done(table, where)
    return config


def _keys(tables: Any, base: Path) -> tuple[KeyConfig, ...]:
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ValueError("[[witness.key]]: want an array of tables")
    keys = []
    for i, raw in enumerate(tables):
        where = f"[[witness.key]] #{i + 1}"
        table = dict(raw)
        vkey = _take(table, "vkey", str, where, "")
        keys.append(KeyConfig(
            file=_optional_path(table, "file", where, base), vkey=vkey or None,
            state=_take(table, "state", str, where, "active"),
            since=_take(table, "since", str, where, ""), until=_take(table, "until", str, where, ""),
        ))
        _done(table, where)
    if keys and not any(k.state == "active" for k in keys):
        raise ValueError("[[witness.key]] lists no active key, want at least one")
    return tuple(keys)


def _log_entry(table: dict[str, Any], where: str, base: Path) -> LogEntry:
    origin = _take(table, "origin", str, where, "")
    if not origin or any(c < " " for c in origin):
        raise ValueError(f"{where}.origin: got {origin!r}, want a non-empty line")
    raw = table.pop("vkey", None)
    vkeys = (raw,) if isinstance(raw, str) else raw
    if not isinstance(vkeys, list | tuple) or not vkeys or not all(isinstance(v, str) for v in vkeys):
        raise ValueError(f"{where}.vkey: want the log's verifier key (a string or a list)")
    for vkey in vkeys:
        try:
            _, sig_type, _ = split_vkey(vkey)
        except MalformedError as exc:
            raise ValueError(f"{where}.vkey: {exc}") from exc
        if sig_type != SIG_TYPE_ED25519:
            raise ValueError(f"{where}.vkey: got type {sig_type:#04x}, want an Ed25519 (0x01) log key")
    entry = LogEntry(
        origin, tuple(vkeys), _take(table, "hash", str, where, "sha256"),
        _take(table, "grpc", str, where, ""), _take(table, "poll_interval_s", float, where, 10.0),
        ca_file=_optional_path(table, "ca_file", where, base),
        client_cert_file=_optional_path(table, "client_cert_file", where, base),
        client_key_file=_optional_path(table, "client_key_file", where, base),
        token_file=_optional_path(table, "token_file", where, base),
        insecure=_take(table, "insecure", bool, where, False),
    )
    get_hasher(entry.hash)
    if not 0.05 <= entry.poll_interval_s <= 86400:
        raise ValueError(f"{where}.poll_interval_s: got {entry.poll_interval_s}, want 0.05..86400")
    _done(table, where)
    return entry


def _archive(table: dict[str, Any], base: Path) -> ArchiveConfig:
    where = "[archive]"
    kind = _take(table, "type", str, where, "local")
    if kind == "local":
        config = ArchiveConfig(dir=_path(base, _take(table, "dir", str, where, "archive")))
    elif kind == "s3":
        config = ArchiveConfig(
            type="s3", bucket=_take(table, "bucket", str, where, ""),
            retention_days=_take(table, "retention_days", int, where, 3650),
            endpoint_url=_take(table, "endpoint_url", str, where, ""),
            region=_take(table, "region", str, where, ""),
            prefix=_take(table, "prefix", str, where, ""),
            max_attempts=_take(table, "max_attempts", int, where, 5),
        )
        if not config.bucket:
            raise ValueError("[archive]: type 's3' needs a bucket")
    else:
        raise ValueError(f"[archive].type: got {kind!r}, want 'local' or 's3'")
    _done(table, where)
    return config


def parse_config(text: str, base: Path) -> WitnessConfig:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config is not valid TOML: {exc}") from exc
    witness = dict(one_table(doc.pop("witness", {}), "witness"))
    archive_table = one_table(doc.pop("archive", {}), "archive")
    log_tables = array_of_tables(doc.pop("log", []), "log")
    archive = _archive(dict(archive_table), base)
    logs = tuple(_log_entry(dict(t), f"[[log]] #{i + 1}", base)
                 for i, t in enumerate(log_tables))
    _done(doc, "config")
    where = "[witness]"
    name = _take(witness, "name", str, where, "")
    if (problem := key_name_problem(name)) is not None:
        raise ValueError(f"{where}.name: {problem}")
    if not logs:
        raise ValueError("no [[log]] configured, want at least one")
    origins = [entry.origin for entry in logs]
    if len(set(origins)) != len(origins):
        raise ValueError(f"log origins configured twice: {sorted(origins)}")
    tls = _tls(witness.pop("tls"), base) if "tls" in witness else None
    keys = _keys(witness.pop("key"), base) if "key" in witness else ()
    if keys and "key_file" in witness:
        raise ValueError(f"{where}: give key_file or [[witness.key]] tables, not both")
    config = WitnessConfig(
        name=name,
        key_file=_path(base, _take(witness, "key_file", str, where, "witness.key")),
        state_dir=_path(base, _take(witness, "state_dir", str, where, "state")),
        archive=archive,
        logs=logs,
        listen=_take(witness, "listen", str, where, DEFAULT_LISTEN),
        prefix=_take(witness, "prefix", str, where, ""),
        refresh_s=_take(witness, "refresh_s", float, where, 60.0),
        max_connections=_take(witness, "max_connections", int, where, 1024),
        insecure=_take(witness, "insecure", bool, where, False),
        max_connections_per_peer=_take(witness, "max_connections_per_peer", int, where, 64),
        request_timeout_s=_take(witness, "request_timeout_s", float, where, 10.0),
        max_inflight_bytes=_take(witness, "max_inflight_bytes", int, where, MAX_INFLIGHT_BYTES),
        metrics_listen=_take(witness, "metrics_listen", str, where, ""),
        tls=tls,
        keys=keys,
    )
    _done(witness, where)
    if not 0 <= config.refresh_s <= 86400:
        raise ValueError(f"{where}.refresh_s: got {config.refresh_s}, want 0..86400")
    if not 1 <= config.max_connections <= 10000:
        raise ValueError(f"{where}.max_connections: got {config.max_connections}, want 1..10000")
    if not 1 <= config.max_connections_per_peer <= config.max_connections:
        raise ValueError(f"{where}.max_connections_per_peer: got "
                         f"{config.max_connections_per_peer}, want 1..max_connections")
    if not 0 < config.request_timeout_s <= 3600:
        raise ValueError(f"{where}.request_timeout_s: got {config.request_timeout_s}, "
                         "want > 0 and <= 3600")
    if not MAX_BODY_SIZE <= config.max_inflight_bytes <= 1 << 32:
        raise ValueError(f"{where}.max_inflight_bytes: got {config.max_inflight_bytes}, want "
                         f"{MAX_BODY_SIZE}..{1 << 32} (at least the largest body)")
    if not config.listen and not any(entry.grpc for entry in logs):
        raise ValueError("listen is off and no [[log]] has grpc: this witness would do nothing")
    return config


def load_config(path: Path) -> WitnessConfig:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read config {path}: {exc.strerror}") from exc
    return parse_config(text, path.resolve().parent)
