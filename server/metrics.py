"""Prometheus metrics of the log server, on their own registry (served at /metrics by
``common.metrics_http``; what is read at scrape time is in ``server.metrics_http``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.appended = Counter(
            "auditlog_appended_entries", "Entries written (duplicates excluded)", ["log"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "auditlog_batch_entries", "Entries per sequencer batch", ["log"],
            buckets=(1, 4, 16, 64, 256, 1024, 4096, 16384), registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "auditlog_batch_seconds", "Time to prepare, sign and durably write one batch", ["log"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.tree_size = Gauge(
            "auditlog_tree_size", "Current tree size", ["log"], registry=self.registry
        )
        self.halted = Gauge(
            "auditlog_log_halted",
            "1 when the log refuses to append and sign: its tree does not extend an anchor",
            ["log"], registry=self.registry,
        )
        self.pushback = Counter(
            "auditlog_pushback", "Appends refused because the queue was full", ["log"],
            registry=self.registry,
        )
        self.requests = Counter(
            "auditlog_requests", "RPCs by method and status code", ["method", "code"],
            registry=self.registry,
        )
        self.denied = Counter(
            "auditlog_denied", "Requests refused by authentication, roles or quotas",
            ["method", "code"], registry=self.registry,
        )
        self.latency = Histogram(
            "auditlog_request_seconds", "RPC latency by method", ["method"],
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
            registry=self.registry,
        )
        self.ingest_records = Counter(
            "auditlog_ingest_records", "Ingested records appended durably (server/ingest)",
            ["transport", "log"], registry=self.registry,
        )
        self.ingest_rejected = Counter(
            "auditlog_ingest_rejected", "Ingested records refused, by transport and reason",
            ["transport", "reason"], registry=self.registry,
        )

        # Publication to S3 (server/publisher.py).
        self.published_objects = Counter(
            "auditlog_published_objects", "Objects written to the log's bucket", ["log"],
            registry=self.registry,
        )
        self.published_bytes = Counter(
            "auditlog_published_bytes", "Bytes written to the log's bucket", ["log"],
            registry=self.registry,
        )
        self.publish_errors = Counter(
            "auditlog_publish_errors", "Publication rounds that failed", ["log"],
            registry=self.registry,
        )
        self.publish_retries = Counter(
            "auditlog_publish_retries", "S3 requests retried after a transient error", ["log"],
            registry=self.registry,
        )
        self.pruned_below = Gauge(
            "auditlog_pruned_below", "Entries below this index were pruned from the server "
            "(they are in the bucket)", ["log"], registry=self.registry,
        )
        self.oldest_retain_until = Gauge(
            "auditlog_oldest_retain_until_timestamp_seconds", "When the bucket's lock on the "
            "oldest entry the server keeps ends (Unix time)", ["log"], registry=self.registry,
        )
        self.published_size = Gauge(
            "auditlog_published_size", "Tree size of the checkpoint in the bucket", ["log"],
            registry=self.registry,
        )
        self.publish_lag_entries = Gauge(
            "auditlog_publish_lag_entries", "Entries in the tree not yet in the bucket", ["log"],
            registry=self.registry,
        )
        self.publish_lag_seconds = Gauge(
            "auditlog_publish_lag_seconds", "Age of the oldest checkpoint not yet published",
            ["log"], registry=self.registry,
        )
        self.publish_last_success = Gauge(
            "auditlog_publish_last_success_timestamp_seconds",
            "Unix time of the last successful publication round", ["log"], registry=self.registry,
        )

        self._sizes: dict[str, int] = {}

    def opened(self, log: str, size: int) -> None:
        """A log opened at ``size`` entries: appends count from there."""
        self._sizes[log] = size
        self.tree_size.labels(log).set(size)
        self.appended.labels(log).inc(0)  # present (at 0) before the first append

    def observe_batch(self, log: str, entries: int, seconds: float, size: int) -> None:
        """A batch of ``entries`` requested entries was written; the tree now has ``size``."""
        self.batch_size.labels(log).observe(entries)
        self.batch_seconds.labels(log).observe(seconds)
        self.tree_size.labels(log).set(size)
        # The tree grows by exactly the entries written: duplicates (dedup) add nothing.
        grown = size - self._sizes.get(log, size)
        if grown > 0:
            self.appended.labels(log).inc(grown)
        self._sizes[log] = size
