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
    max_concurrent_rpcs = 4096         # gRPC calls open at once (idle streams too); beyond
                                       # it a call gets RESOURCE_EXHAUSTED

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

    [log.publish]                          # optional: publish the log to S3 Object Lock
    bucket = "audit-records"               #   (server/publisher.py, docs/publication.md)
    retention_days = 2555                  # COMPLIANCE retention of every object written
    endpoint_url = ""                      # "" is AWS; else e.g. "https://s3.example:8333"
    region = ""
    prefix = ""                            # "" is "<origin>/"; else a prefix ending in "/"
    interval_s = 1.0                       # at most one publication round per interval
    acknowledge_after_publication = false  # appends answer only once a published checkpoint
                                           # covers them (and wait for S3)
    max_attempts = 5                       # per object, for transient S3 errors
    timeout_s = 10
    concurrency = 16                       # objects written at once

    [[log.key]]                            # optional: several keys, for rotation; default is
    file = "keys/payments-2026.key"        # one active key at key_file
    state = "active"                       # "active" keys sign every checkpoint; "retired"
    since = "2026-01-01"                   # ones are only listed (give vkey if the file is gone)

TLS, principals, roles and quotas are described in server/security.py; ``[[log.witness]]`` and
``[log.publish]`` in server/log_tables.py; the ingestion sources (``[ingest]``: OTLP, the
Kubernetes audit webhook) in server/ingest/config.py.
Relative paths are taken relative to the config file's folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from auditlog_tlog.common.keys import KeyConfig
from auditlog_tlog.common.tables import array_of_tables, one_table
from auditlog_tlog.server.ingest.config import IngestConfig, parse_ingest
from auditlog_tlog.server.log_tables import (
    PublishConfig,
    WitnessConfig,
    check_keys,
    publish_config,
    typed,
    witness_config,
)
from auditlog_tlog.server.security import Principal, TLSConfig, parse_principal, parse_tls

DEFAULT_LISTEN = "127.0.0.1:7600"
DEFAULT_METRICS = "127.0.0.1:7601"


@dataclass(frozen=True, slots=True)
class LogConfig:
    origin: str
    """The log's name: the first line of its checkpoints, and its key name (no spaces, no '+').
    Required."""
    key_file: Path
    """The log's signing key; created (mode 0600) on first start if missing."""
    hash: str = "sha256"
    """"sha256" (RFC 6962, what every C2SP tool understands) or "blake3"; fixed when the log is
    created."""
    dedup: bool = True
    """Appending an entry already in the log returns its first index (duplicate = true) instead of
    storing it again, so retries are safe."""
    max_entry_bytes: int = 64 * 1024
    """The largest entry accepted, in bytes (1..16777216); bigger ones get INVALID_ARGUMENT."""
    max_batch_entries: int = 10_000
    """The most entries in one AppendBatch request or stream message (1..1000000)."""
    max_pending_entries: int = 100_000
    """Queue bound (1..10000000): beyond this many unwritten entries, appends get
    RESOURCE_EXHAUSTED (pushback); a single request of more entries, INVALID_ARGUMENT."""
    max_entries_page: int = 1000
    """Entries per GetEntries page (1..100000)."""
    batch_delay_ms: float = 0.0
    """How long the sequencer may wait to fill a batch (0..1000 ms)."""
    checkpoint_interval_ms: float = 0.0
    """0: sign a checkpoint for every batch; else at most one per interval, in ms (0..3600000;
    and at once when an append asks for a receipt)."""
    public_read: bool = False
    """When principals exist: reads need no credential."""
    require_signed_entries: bool = False
    """Accept only entries that are C2SP signed notes by one of appender_keys."""
    appender_keys: tuple[str, ...] = ()
    """Verifier keys whose signed-note entries are accepted (with require_signed_entries)."""
    keys: tuple[KeyConfig, ...] = ()
    """[[log.key]] tables: several signing keys, for rotation (instead of key_file)."""
    witnesses: tuple[WitnessConfig, ...] = ()
    """[[log.witness]] tables: the witnesses that cosign this log's checkpoints."""
    witness_quorum: int | None = None
    """How many of the witnesses clients should require (k of n, 0..n); default: all of them."""
    witness_interval_s: float = 300.0
    """Push the latest checkpoint to the witnesses at least this often, in seconds (0.1..86400)."""
    publish: PublishConfig | None = None
    """[log.publish]: publish this log to an S3 Object Lock bucket (optional)."""
    search_index: bool = True
    """Index each entry for Search, in the batch that writes it (docs/search.md); entries written
    while it is off are never indexed (auditlog audit reports them)."""
    index_attributes: tuple[str, ...] = ()
    """Attribute keys indexed besides the fixed fields, e.g. ["service.name", "user.username"]."""
    search_max_scan: int = 10_000
    """Candidate entries one Search call reads at most (100..1000000); then it returns a cursor."""

    @property
    def quorum(self) -> int:
        """How many of the witnesses a client should require (k of n); all by default."""
        return len(self.witnesses) if self.witness_quorum is None else self.witness_quorum

    def __post_init__(self) -> None:
        if not self.origin or any(c.isspace() for c in self.origin) or "+" in self.origin:
            raise ValueError(f"log origin {self.origin!r}: want a non-empty name without spaces or '+'")
        if self.hash not in ("sha256", "blake3"):
            raise ValueError(f"log {self.origin}: hash {self.hash!r}, want 'sha256' or 'blake3'")
        attributes = self.index_attributes
        if not isinstance(attributes, list | tuple) or not all(
                isinstance(a, str) and 0 < len(a) <= 64 for a in attributes):
            raise ValueError(f"log {self.origin}: index_attributes = {attributes!r:.80}, want a "
                             "list of keys of 1..64 characters")
        object.__setattr__(self, "index_attributes", tuple(attributes))
        for name, low, high in (
            ("search_max_scan", 100, 1_000_000),
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
    """Where the RocksDB lives."""
    logs: tuple[LogConfig, ...]
    """[[log]] tables: one per log this server holds."""
    listen: str = DEFAULT_LISTEN
    """gRPC address host:port; plain text only on loopback (else [server.tls], or insecure)."""
    metrics_listen: str = DEFAULT_METRICS
    """Prometheus /metrics address; "" turns it off."""
    http_listen: str = ""
    """c2sp.org/tlog-tiles read endpoints (GET /<origin>/checkpoint, tiles, entries); "" turns them
    off."""
    max_request_bytes: int = 16 * 1024 * 1024
    """The largest gRPC message accepted, in bytes (1024..268435456)."""
    max_inflight_bytes: int = 64 * 1024 * 1024
    """Request bytes held at once, server-wide (at least max_request_bytes); beyond it, requests
    get RESOURCE_EXHAUSTED (pushback) until others finish."""
    max_concurrent_rpcs: int = 4096
    """gRPC calls open at once, server-wide (1..1000000); beyond it a call gets
    RESOURCE_EXHAUSTED at once. An open call, even an idle stream, holds ~23 KB."""
    shutdown_grace_s: float = 10.0
    """On SIGTERM: seconds to let calls in flight finish after the queued appends are written."""
    insecure: bool = False
    """Serve plain-text gRPC on a non-loopback address (warned at every start)."""
    tls: TLSConfig | None = None
    """[server.tls]: serve gRPC over TLS."""
    principals: tuple[Principal, ...] = ()
    """[[principal]] tables: who may call, and with which roles."""
    ingest: IngestConfig = field(default_factory=IngestConfig)
    """[ingest]: OTLP, Kubernetes audit and syslog listeners (docs/ingestion.md)."""
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
        if not 1 <= self.max_concurrent_rpcs <= 1_000_000:
            raise ValueError(f"max_concurrent_rpcs = {self.max_concurrent_rpcs}, want 1..1000000")
        object.__setattr__(self, "logs_by_origin", {log.origin: log for log in self.logs})
        names = [p.name for p in self.principals]
        if len(set(names)) != len(names):
            raise ValueError(f"principal names configured twice: {sorted(names)}")


def parse_config(text: str, base: Path, overrides: dict[str, Any] | None = None) -> ServerConfig:
    """Parse a server config; ``overrides`` replace [server] keys (from the command line)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config is not valid TOML: {exc}") from exc
    check_keys(doc, {"server", "log", "principal", "ingest"}, "config")
    server = dict(one_table(doc.get("server", {}), "server"))
    server_keys = {f.name for f in fields(ServerConfig)} - {"logs", "logs_by_origin", "principals", "ingest"}
    check_keys(server, server_keys, "[server]")
    tls = parse_tls(server.pop("tls"), base) if "tls" in server else None
    principals = tuple(
        parse_principal(t, f"[[principal]] #{i + 1}")
        for i, t in enumerate(array_of_tables(doc.get("principal", []), "principal"))
    )
    logs = []
    for i, table in enumerate(array_of_tables(doc.get("log", []), "log")):
        where = f"[[log]] #{i + 1}"
        check_keys(
            table, ({f.name for f in fields(LogConfig)} - {"keys", "witnesses"}) | {"key", "witness"},
            where,
        )
        if "origin" not in table:
            raise ValueError(f"{where}: origin is required")
        table = dict(table)
        keys = tuple(_key_config(k, base, where)
                     for k in array_of_tables(table.pop("key", []), "log.key"))
        witnesses = tuple(witness_config(w, where, base)
                          for w in array_of_tables(table.pop("witness", []), "log.witness"))
        publish = publish_config(table.pop("publish"), where) if "publish" in table else None
        appenders = table.pop("appender_keys", [])
        if not isinstance(appenders, list) or not all(isinstance(a, str) for a in appenders):
            raise ValueError(f"{where}.appender_keys: want a list of verifier key strings")
        values = typed(LogConfig, table, where, base)
        values.update(keys=keys, appender_keys=tuple(appenders), witnesses=witnesses,
                      publish=publish)
        values.setdefault("key_file", base / "keys" / (_safe_name(values["origin"]) + ".key"))
        logs.append(LogConfig(**values))
    values = typed(ServerConfig, server, "[server]", base)
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
    check_keys(table, {"file", "vkey", "state", "since", "until"}, f"{where} [[log.key]]")
    file = table.get("file")
    return KeyConfig(
        file=None if file is None else base / file,
        vkey=table.get("vkey"),
        state=str(table.get("state", "active")),
        since=str(table.get("since", "")),
        until=str(table.get("until", "")),
    )


def _safe_name(origin: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in origin)
