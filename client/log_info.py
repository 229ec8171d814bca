"""What ``LogClient.log_info`` answers: a log's origin, keys, hash, limits, witness policy and
retention, as plain values read from the ``GetLogInfo`` / ``ListLogs`` messages."""

from __future__ import annotations

from dataclasses import dataclass

from auditlog_tlog.proto import auditlog_pb2 as pb


@dataclass(frozen=True, slots=True)
class Limits:
    max_entry_bytes: int
    max_batch_entries: int
    max_pending_entries: int
    max_entries_page: int


@dataclass(frozen=True, slots=True)
class KeyInfo:
    verifier_key: str
    state: str  # "active" or "retired"
    since: str = ""
    until: str = ""


@dataclass(frozen=True, slots=True)
class LogInfo:
    origin: str
    verifier_key: str
    hash: str
    size: int
    dedup: bool
    limits: Limits
    witness_keys: tuple[str, ...]
    witness_quorum: int
    keys: tuple[KeyInfo, ...] = ()
    retention: Retention | None = None  # for a log that publishes to a bucket


@dataclass(frozen=True, slots=True)
class Retention:
    """A publishing log's retention (docs/retention.md): the lock period of its objects, the
    entries the server no longer keeps (below ``pruned_below``: read them from ``bucket``), and
    when the bucket's lock on the oldest entry the server keeps ends (Unix time, 0: unknown)."""

    bucket: str
    prefix: str
    retention_days: int
    pruned_below: int
    oldest_retain_until: float


def log_info_of(info: pb.LogInfo) -> LogInfo:
    """The client's view of a ``LogInfo`` message."""
    lim = info.limits
    return LogInfo(
        info.origin, info.verifier_key, info.hash or "sha256", info.size, info.dedup,
        Limits(lim.max_entry_bytes, lim.max_batch_entries, lim.max_pending_entries,
               lim.max_entries_page),
        tuple(info.witness_keys), info.witness_quorum,
        tuple(KeyInfo(k.verifier_key, k.state, k.since, k.until) for k in info.keys),
        _retention(info.publication) if info.HasField("publication") else None,
    )


def _retention(p: pb.Publication) -> Retention:
    return Retention(p.bucket, p.prefix, p.retention_days, p.pruned_below,
                     p.oldest_retain_until_unix)
