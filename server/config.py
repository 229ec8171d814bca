"""The log server's configuration: a TOML file, with command-line overrides.

Example (every key but ``origin`` has a default)::

    [server]
    listen = "127.0.0.1:7600"          # gRPC; plain text is only allowed on loopback
    metrics_listen = "127.0.0.1:7601"  # Prometheus /metrics; "" turns it off
    http_listen = ""                   # c2sp.org/tlog-tiles read endpoints (server/tiles_http.py)
    data_dir = "data/log"              # the RocksDB lives here
    max_request_bytes = 16777216       # largest gRPC message accepted (lowered to the largest
                                       # valid request of the logs below: server/budget.py)
    max_inflight_bytes = 67108864      # request bytes held at once, server-wide; beyond it
                                       # requests get RESOURCE_EXHAUSTED (docs/limits.md)

    [[log]]
    origin = "auditlog.example/payments"   # the checkpoint origin line, also the key name
    key_file = "keys/payments.key"         # created (mode 0600) on first start if missing
    hash = "sha256"                        # or "blake3"; fixed when the log is created
    dedup = true                           # the same entry again returns its first index
    max_entry_bytes = 65536
    max_batch_entries = 10000
    max_pending_entries = 100000           # queue bound; beyond it appends get RESOURCE_EXHAUSTED
    max_entries_page = 1000                # GetEntries page size
    batch_delay_ms = 0                     # how long the sequencer may wait to fill a batch
    checkpoint_interval_ms = 0             # 0: sign a checkpoint for every batch; else at most
                                           # one per interval (and at once for receipts)

    public_read = false                    # reads need no credential (when principals exist)
    require_signed_entries = false         # accept only entries that are C2SP signed notes
    appender_keys = []                     #   signed by one of these verifier keys

    witness_quorum = 2                     # k of n: how many witnesses clients should want
                                           # (default: all of them)
    witness_interval_s = 300               # push the latest checkpoint at least this often

    [[log.witness]]                        # a witness (server/pushing.py): its cosignature
    vkey = "witness.example/w1+1a2b3c4d+BA..."  # verifier key (type 0x04), and for push mode its
    url = "https://witness.example:7700"   # tlog-witness URL (the add-checkpoint prefix)
    timeout_s = 10
    ca_file = "tls/witness-ca.pem"         # https: trust this CA (default: the system's roots)
    client_cert_file = "tls/log.pem"       # https: a client certificate, for a witness that
    client_key_file = "tls/log.key"        #   requires mutual TLS (key mode 0600)
    insecure = false                       # allow an http:// url to a non-loopback host (plain
                                           # text; warned at every start)

    [[log.key]]                            # optional: several keys, for rotation; default is
    file = "keys/payments-2026.key"        # one active key at key_file
    state = "active"                       # "active" keys sign every checkpoint; "retired"
    since = "2026-01-01"                   # ones are only listed (give vkey if the file is gone)

TLS, principals, roles and quotas are described in server/security.py.
Relative paths are taken relative to the config file's folder.
"""

from __future__ import annotations

import tomllib
import urllib.parse
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from auditlog_tlog.common.keys import KeyConfig
from auditlog_tlog.common.net import is_loopback
from auditlog_tlog.server.ingest.config import IngestConfig, parse_ingest
from auditlog_tlog.server.security import Principal, TLSConfig, parse_principal, parse_tls
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.keys import SIG_TYPE_COSIGNATURE_V1, split_vkey

DEFAULT_LISTEN = "127.0.0.1:7600"
DEFAULT_METRICS = "127.0.0.1:7601"


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    """A witness of a log: its cosignature/v1 verifier key and, for push mode, its tlog-witness
    URL (``""``: the witness pulls, and hands its cosignatures in with AddCosignature), with
    the CA to trust and the client certificate to present for an https URL. A plain http URL
    must name a loopback host unless ``insecure``."""

    vkey: str
    url: str = ""
    timeout_s: float = 10.0
    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        try:
            sig_type = split_vkey(self.vkey)[1]
        except MalformedError as exc:
            raise ValueError(f"[[log.witness]] vkey: {exc}") from exc
        if sig_type != SIG_TYPE_COSIGNATURE_V1:
            raise ValueError(f"[[log.witness]] vkey: type {sig_type:#04x}, want 0x04 (cosignature/v1)")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"[[log.witness]] url {self.url!r}: want http:// or https://")
        if not 0 < self.timeout_s <= 300:
            raise ValueError(f"[[log.witness]] timeout_s = {self.timeout_s}, want 0..300")
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("[[log.witness]]: mutual TLS needs both client_cert_file and "
                             "client_key_file")
        tls = [k for k in ("ca_file", "client_cert_file") if getattr(self, k) is not None]
        if tls and not self.url.startswith("https://"):
            raise ValueError(f"[[log.witness]] {tls[0]}: want an https:// url, got {self.url!r}")
        host = urllib.parse.urlsplit(self.url).hostname or ""
        if self.url.startswith("http://") and not self.insecure and not is_loopback(f"[{host}]:0"):
            raise ValueError(
                f"[[log.witness]] url {self.url!r}: plain http only to a loopback host; use "
                "https:// (with ca_file), or set insecure = true in that [[log.witness]]"
            )


@dataclass(frozen=True, slots=True)
class LogConfig:
    origin: str
    key_file: Path
    hash: str = "sha256"
    dedup: bool = True
    max_entry_bytes: int = 64 * 1024
    max_batch_entries: int = 10_000
    max_pending_entries: int = 100_000
    max_entries_page: int = 1000
    batch_delay_ms: float = 0.0
    checkpoint_interval_ms: float = 0.0
    public_read: bool = False
    require_signed_entries: bool = False
    appender_keys: tuple[str, ...] = ()
    keys: tuple[KeyConfig, ...] = ()
    witnesses: tuple[WitnessConfig, ...] = ()
    witness_quorum: int | None = None
    witness_interval_s: float = 300.0

    @property
    def quorum(self) -> int:
        """How many of the witnesses a client should require (k of n); all by default."""
        return len(self.witnesses) if self.witness_quorum is None else self.witness_quorum

    def __post_init__(self) -> None:
        if not self.origin or any(c.isspace() for c in self.origin) or "+" in self.origin:
            raise ValueError(f"log origin {self.origin!r}: want a non-empty name without spaces or '+'")
        if self.hash not in ("sha256", "blake3"):
            raise ValueError(f"log {self.origin}: hash {self.hash!r}, want 'sha256' or 'blake3'")
        for name, low, high in (
            ("max_entry_bytes", 1, 16 * 1024 * 1024),
            ("max_batch_entries", 1, 1_000_000),
            ("max_pending_entries", 1, 10_000_000),
            ("max_entries_page", 1, 100_000),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"log {self.origin}: {name} = {value}, want {low}..{high}")
        if not 0 <= self.batch_delay_ms <= 1000:
            raise ValueError(f"log {self.origin}: batch_delay_ms = {self.batch_delay_ms}, want 0..1000")
        if self.require_signed_entries and not self.appender_keys:
            raise ValueError(f"log {self.origin}: require_signed_entries needs appender_keys")
        if self.keys and not any(k.state == "active" for k in self.keys):
            raise ValueError(f"log {self.origin}: [[log.key]] lists no active key")
        if not 0 <= self.checkpoint_interval_ms <= 3_600_000:
            raise ValueError(
                f"log {self.origin}: checkpoint_interval_ms = {self.checkpoint_interval_ms}, "
                "want 0..3600000"
            )
        n = len(self.witnesses)
        quorum = self.witness_quorum
        if quorum is not None and (type(quorum) is not int or not 0 <= quorum <= n):
            raise ValueError(f"log {self.origin}: witness_quorum = {quorum!r}, want 0..{n}")
        if n > 32:
            raise ValueError(f"log {self.origin}: {n} witnesses, want at most 32")
        if len({w.vkey for w in self.witnesses}) != n:
            raise ValueError(f"log {self.origin}: the same witness vkey is configured twice")
        if not 0.1 <= self.witness_interval_s <= 86400:
            raise ValueError(
                f"log {self.origin}: witness_interval_s = {self.witness_interval_s}, want 0.1..86400"
            )


@dataclass(frozen=True, slots=True)
class ServerConfig:
    data_dir: Path
    logs: tuple[LogConfig, ...]
    listen: str = DEFAULT_LISTEN
    metrics_listen: str = DEFAULT_METRICS
    http_listen: str = ""
    max_request_bytes: int = 16 * 1024 * 1024
    max_inflight_bytes: int = 64 * 1024 * 1024
    shutdown_grace_s: float = 10.0
    insecure: bool = False
    tls: TLSConfig | None = None
    principals: tuple[Principal, ...] = ()
    ingest: IngestConfig = field(default_factory=IngestConfig)  # [ingest]: server/ingest/config.py
    logs_by_origin: dict[str, LogConfig] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.logs:
            raise ValueError("no [[log]] configured, want at least one")
        origins = [log.origin for log in self.logs]
        duplicates = {o for o in origins if origins.count(o) > 1}
        if duplicates:
            raise ValueError(f"log origins configured twice: {sorted(duplicates)}")
        if not 1024 <= self.max_request_bytes <= 256 * 1024 * 1024:
            raise ValueError(f"max_request_bytes = {self.max_request_bytes}, want 1024..268435456")
        if not self.max_request_bytes <= self.max_inflight_bytes <= 4 * 1024 * 1024 * 1024:
            raise ValueError(f"max_inflight_bytes = {self.max_inflight_bytes}, want "
                             f"{self.max_request_bytes} (max_request_bytes)..4294967296")
        object.__setattr__(self, "logs_by_origin", {log.origin: log for log in self.logs})
        names = [p.name for p in self.principals]
        if len(set(names)) != len(names):
            raise ValueError(f"principal names configured twice: {sorted(names)}")


def _check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}, want some of {sorted(allowed)}")


def _typed(cls: type, table: dict[str, Any], where: str, base: Path) -> dict[str, Any]:
    """Check value types against the dataclass annotations and resolve paths against ``base``."""
    out: dict[str, Any] = {}
    kinds = {f.name: f.type for f in fields(cls)}
    for key, value in table.items():
        kind = kinds[key]
        if kind == "Path":
            if not isinstance(value, str):
                raise ValueError(f"{where}.{key}: got {value!r}, want a path string")
            out[key] = (base / value) if not Path(value).is_absolute() else Path(value)
            continue
        expected: tuple[type, ...] = {
            "str": (str,), "bool": (bool,), "int": (int,), "float": (int, float),
        }.get(str(kind), (object,))
        if not isinstance(value, expected) or (bool not in expected and isinstance(value, bool)):
            raise ValueError(f"{where}.{key}: got {value!r}, want {kind}")
        out[key] = value
    return out


def parse_config(text: str, base: Path, overrides: dict[str, Any] | None = None) -> ServerConfig:
    """Parse a server config; ``overrides`` replace [server] keys (from the command line)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config is not valid TOML: {exc}") from exc
    _check_keys(doc, {"server", "log", "principal", "ingest"}, "config")
    server = dict(doc.get("server", {}))
    server_keys = {f.name for f in fields(ServerConfig)} - {"logs", "logs_by_origin", "principals", "ingest"}
    _check_keys(server, server_keys, "[server]")
    tls = parse_tls(server.pop("tls"), base) if "tls" in server else None
    principals = tuple(
        parse_principal(t, f"[[principal]] #{i + 1}") for i, t in enumerate(doc.get("principal", []))
    )
    logs = []
    for i, table in enumerate(doc.get("log", [])):
        where = f"[[log]] #{i + 1}"
        _check_keys(
            table, ({f.name for f in fields(LogConfig)} - {"keys", "witnesses"}) | {"key", "witness"},
            where,
        )
        if "origin" not in table:
            raise ValueError(f"{where}: origin is required")
        table = dict(table)
        keys = tuple(_key_config(k, base, where) for k in table.pop("key", []))
        witnesses = tuple(_witness_config(w, where, base) for w in table.pop("witness", []))
        appenders = table.pop("appender_keys", [])
        if not isinstance(appenders, list) or not all(isinstance(a, str) for a in appenders):
            raise ValueError(f"{where}.appender_keys: want a list of verifier key strings")
        values = _typed(LogConfig, table, where, base)
        values.update(keys=keys, appender_keys=tuple(appenders), witnesses=witnesses)
        values.setdefault("key_file", base / "keys" / (_safe_name(values["origin"]) + ".key"))
        logs.append(LogConfig(**values))
    values = _typed(ServerConfig, server, "[server]", base)
    values.setdefault("data_dir", base / "data")
    ingest = parse_ingest(doc.get("ingest", {}), {log.origin for log in logs}, base)
    config = ServerConfig(logs=tuple(logs), tls=tls, principals=principals, ingest=ingest, **values)
    if overrides:
        config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    return config


def load_config(path: Path, overrides: dict[str, Any] | None = None) -> ServerConfig:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read config {path}: {exc.strerror}") from exc
    return parse_config(text, path.resolve().parent, overrides)


def _key_config(table: dict[str, Any], base: Path, where: str) -> KeyConfig:
    _check_keys(table, {"file", "vkey", "state", "since", "until"}, f"{where} [[log.key]]")
    file = table.get("file")
    return KeyConfig(
        file=None if file is None else base / file,
        vkey=table.get("vkey"),
        state=str(table.get("state", "active")),
        since=str(table.get("since", "")),
        until=str(table.get("until", "")),
    )


def _witness_config(table: dict[str, Any], where: str, base: Path) -> WitnessConfig:
    where = f"{where} [[log.witness]]"
    if not isinstance(table, dict):
        raise ValueError(f"{where}: want a table with vkey and optional url, timeout_s")
    paths = ("ca_file", "client_cert_file", "client_key_file")
    _check_keys(table, {"vkey", "url", "timeout_s", "insecure", *paths}, where)
    if "vkey" not in table:
        raise ValueError(f"{where}: vkey is required")
    values = _typed(WitnessConfig, {k: v for k, v in table.items() if k not in paths}, where, base)
    for key in paths:
        if key in table:
            value = table[key]
            if not isinstance(value, str) or not value:
                raise ValueError(f"{where}.{key}: got {value!r}, want a path string")
            values[key] = Path(value) if Path(value).is_absolute() else base / value
    return WitnessConfig(**values)


def _safe_name(origin: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in origin)
