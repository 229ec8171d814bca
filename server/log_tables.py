"""The tables inside a ``[[log]]`` of the server's configuration (server/config.py has the
example): ``[[log.witness]]`` (:class:`WitnessConfig`: a witness's key and, for push mode, its
URL and TLS) and ``[log.publish]`` (:class:`PublishConfig`: the S3 Object Lock bucket the log
publishes to, docs/publication.md), and the two checks every table of the file goes through:
unknown keys (:func:`check_keys`) and value types against the dataclass (:func:`typed`)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from auditlog_tlog.common.net import is_loopback
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.keys import SIG_TYPE_COSIGNATURE_V1, split_vkey


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    """A witness of a log: its cosignature/v1 verifier key and, for push mode, its tlog-witness
    URL (``""``: the witness pulls, and hands its cosignatures in with AddCosignature), with
    the CA to trust and the client certificate to present for an https URL. A plain http URL
    must name a loopback host unless ``insecure``."""

    vkey: str
    """The witness's cosignature/v1 verifier key (type 0x04), as the witness printed it."""
    url: str = ""
    """Push mode: the witness's tlog-witness URL (the add-checkpoint prefix); "" for a witness that
    pulls and hands its cosignatures in with AddCosignature."""
    timeout_s: float = 10.0
    """Seconds to wait for the witness's answer to one push (above 0, at most 300)."""
    ca_file: Path | None = None
    """For an https url: trust this CA (PEM) instead of the system's roots."""
    client_cert_file: Path | None = None
    """For a witness that requires mutual TLS: the log's client certificate (PEM)."""
    client_key_file: Path | None = None
    """Its private key (PEM, mode 0600)."""
    insecure: bool = False
    """Allow an http:// url to a non-loopback host (plain text; warned at every start)."""

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
            raise ValueError(f"[[log.witness]] timeout_s = {self.timeout_s}, want above 0 and at most 300")
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
class PublishConfig:
    """Where and how a log publishes itself (``[log.publish]``; server/publisher.py)."""

    bucket: str
    """The S3 bucket (versioning and Object Lock on; `auditlog bucket init` prepares one)."""
    retention_days: int
    """COMPLIANCE retention of every object written, in days (1..36500)."""
    endpoint_url: str = ""
    """S3 endpoint URL; "" is AWS, else e.g. "https://s3.example:8333"."""
    region: str = ""
    """S3 region; "" is boto3's default."""
    prefix: str = ""
    """Where the log goes in the bucket: "" is "<origin>/", else a prefix ending in "/"."""
    interval_s: float = 1.0
    """At most one publication round per this many seconds (0.01..3600)."""
    acknowledge_after_publication: bool = False
    """Appends answer only once a published checkpoint covers them (they wait for S3)."""
    max_attempts: int = 5
    """Attempts per object for transient S3 errors (1..20)."""
    timeout_s: float = 10.0
    """Timeout of one S3 request, in seconds (0.1..300)."""
    concurrency: int = 16
    """Objects written at once (1..256)."""
    processes: int = 0
    """Processes that write the objects (0..64; 0: threads of the server's process). boto3's CPU
    per request then leaves the server's process (docs/publication.md, Throughput)."""
    confirm_each_object: bool = True
    """Read every tile and bundle back (HEAD) to confirm its lock; false: only the first of a
    round, the rest confirmed by the PUT's answer (faster; docs/publication.md, Confirmation)."""
    prune_after_days: int = 0
    """Delete local entry bundles this many days after they were published, once the bucket
    holds them locked and identical (0..36500; 0: never); proofs still work (docs/retention.md)."""

    def __post_init__(self) -> None:
        if not 3 <= len(self.bucket) <= 63:
            raise ValueError(f"[log.publish] bucket {self.bucket!r}: want an S3 bucket name")
        if self.prefix and (not self.prefix.endswith("/") or self.prefix.startswith("/")):
            raise ValueError(f"[log.publish] prefix {self.prefix!r}: want '' or 'a/b/'")
        if self.endpoint_url and not self.endpoint_url.startswith(("http://", "https://")):
            raise ValueError(f"[log.publish] endpoint_url {self.endpoint_url!r}: want http(s)://")
        for name, low, high in (
            ("retention_days", 1, 36500), ("interval_s", 0.01, 3600), ("max_attempts", 1, 20),
            ("timeout_s", 0.1, 300), ("concurrency", 1, 256), ("prune_after_days", 0, 36500),
            ("processes", 0, 64),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"[log.publish] {name} = {value}, want {low}..{high}")


def check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    """ValueError naming the keys of ``table`` that are not ``allowed``."""
    unknown = set(table) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}, want some of {sorted(allowed)}")


def typed(cls: type, table: dict[str, Any], where: str, base: Path) -> dict[str, Any]:
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


def witness_config(table: dict[str, Any], where: str, base: Path) -> WitnessConfig:
    """A ``[[log.witness]]`` table of the log at ``where``; paths taken relative to ``base``."""
    where = f"{where} [[log.witness]]"
    if not isinstance(table, dict):
        raise ValueError(f"{where}: want a table with vkey and optional url, timeout_s")
    paths = ("ca_file", "client_cert_file", "client_key_file")
    check_keys(table, {"vkey", "url", "timeout_s", "insecure", *paths}, where)
    if "vkey" not in table:
        raise ValueError(f"{where}: vkey is required")
    values = typed(WitnessConfig, {k: v for k, v in table.items() if k not in paths}, where, base)
    for key in paths:
        if key in table:
            value = table[key]
            if not isinstance(value, str) or not value:
                raise ValueError(f"{where}.{key}: got {value!r}, want a path string")
            values[key] = Path(value) if Path(value).is_absolute() else base / value
    return WitnessConfig(**values)


def publish_config(table: Any, where: str) -> PublishConfig:
    """The ``[log.publish]`` table of the log at ``where``."""
    where = f"{where} [log.publish]"
    if not isinstance(table, dict):
        raise ValueError(f"{where}: want a table with bucket and retention_days")
    check_keys(table, {f.name for f in fields(PublishConfig)}, where)
    for key in ("bucket", "retention_days"):
        if key not in table:
            raise ValueError(f"{where}: {key} is required")
    return PublishConfig(**typed(PublishConfig, table, where, Path()))
