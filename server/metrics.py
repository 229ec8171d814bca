"""Prometheus metrics of the log server, on their own registry (served at /metrics by
``common.metrics_http``; what is read at scrape time is in ``server.metrics_http``).

Every RPC is counted by :class:`CallCounter`, which keeps plain integers per call and builds
the ``auditlog_requests`` counter and the ``auditlog_request_seconds`` histogram only when
scraped (the text exposition format, prometheus.io/docs/instrumenting/exposition_formats):
a labelled child's ``inc`` and ``observe`` take a lock each and cost ~3x as much per call,
which a proof call, answered in a few microseconds, paid on every call (docs/call-cost.md).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

# Upper bounds of auditlog_request_seconds (+Inf is the last bucket).
LATENCY_BUCKETS: Final = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)


class CallCounter(Collector):
    """RPCs by method and status code, and their latency by method.

    :meth:`call` is meant for the server's event loop (one thread): it adds to plain
    integers without a lock. A scrape from another thread reads a snapshot of them
    (``list(dict.items())`` is one step under the GIL), never a half-counted call's
    histogram: a call's bucket is counted before its total, so counts may lag by the calls
    under way, as with any scrape.
    """

    def __init__(self) -> None:
        self._calls: dict[tuple[str, str], int] = {}
        # method -> [bucket counts (non-cumulative, +Inf last)..., sum of seconds]
        self._latency: dict[str, list[float]] = {}

    def call(self, method: str, code: str, seconds: float) -> None:
        """Count one call of ``method`` that ended with status ``code`` after ``seconds``."""
        key = (method, code)
        calls = self._calls
        calls[key] = calls.get(key, 0) + 1
        counts = self._latency.get(method)
        if counts is None:
            counts = self._latency[method] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("auditlog_requests", "RPCs by method and status code",
                                       labels=("method", "code"))
        for (method, code), count in list(self._calls.items()):
            requests.add_metric((method, code), count)
        yield requests
        latency = HistogramMetricFamily("auditlog_request_seconds", "RPC latency by method",
                                        labels=("method",))
        for method, held in list(self._latency.items()):
            counts = list(held)  # one step: a copy that no call changes while it is read
            cumulative = 0.0
            buckets: list[tuple[str, float]] = []
            for bound, n in zip((*map(str, LATENCY_BUCKETS), "+Inf"), counts, strict=False):
                cumulative += n
                buckets.append((bound, cumulative))
            latency.add_metric((method,), buckets, counts[-1])
        yield latency


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
        self.calls = CallCounter()  # auditlog_requests and auditlog_request_seconds
        self.registry.register(self.calls)
        self.denied = Counter(
            "auditlog_denied", "Requests refused by authentication, roles or quotas",
            ["method", "code"], registry=self.registry,
        )
        self.ingest_records = Counter(
            "auditlog_ingest_records", "Ingested records appended durably (server/ingest)",
            ["transport", "log"], registry=self.registry,
        )
        self.ingest_rejected = Counter(
            "auditlog_ingest_rejected", "Ingested records refused, by transport and reason",
            ["transport", "reason"], registry=self.registry,
        )
        self.ingest_conversions = Gauge(
            "auditlog_ingest_conversions", "Conversions handed to the ingestion workers and "
            "not yet answered (server/ingest/pool.py)", registry=self.registry,
        )
        self.ingest_worker_restarts = Counter(
            "auditlog_ingest_worker_restarts", "Times the ingestion workers were started again "
            "after one died", registry=self.registry,
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
