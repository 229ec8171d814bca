"""Prometheus metrics of the witness, on their own registry (served at /metrics by
``common.metrics_http``; the alerting rules in deploy/prometheus/alerts.yml use them):

    auditlog_witness_requests_total{endpoint, code}       tlog-witness requests by answer
    auditlog_witness_cosigned_size{origin}                the size last cosigned, per log
    auditlog_witness_archive_writes_total{kind, outcome}  archive puts: written, present, error

The cosigned size is read from the state store at scrape time, so it is right after a restart.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from auditlog_tlog.tree.errors import StorageError
from auditlog_tlog.witness.archive import Archive
from auditlog_tlog.witness.core import Witness


class WitnessMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "auditlog_witness_requests", "tlog-witness HTTP requests by endpoint and status code",
            ["endpoint", "code"], registry=self.registry,
        )
        self.archive_writes = Counter(
            "auditlog_witness_archive_writes",
            "Archive puts by kind (cosigned, evidence) and outcome (written, present, error)",
            ["kind", "outcome"], registry=self.registry,
        )

    def watch(self, witness: Witness) -> None:
        """Report ``witness``'s cosigned size per log at every scrape."""
        self.registry.register(_CosignedSizes(witness))


class _CosignedSizes(Collector):
    def __init__(self, witness: Witness) -> None:
        self._witness = witness

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("auditlog_witness_cosigned_size",
                                   "The tree size this witness last cosigned, per log origin",
                                   labels=["origin"])
        for origin in self._witness.origins:
            try:
                state = self._witness.state_of(origin)
            except StorageError:
                continue  # the state store is down: the size is unknown, not 0
            family.add_metric([origin], state.size if state is not None else 0)
        yield family


class MeteredArchive:
    """An :class:`Archive` that counts its puts in ``metrics``."""

    def __init__(self, archive: Archive, metrics: WitnessMetrics) -> None:
        self._archive = archive
        # labels() looks a child up by its label strings on every call: bound once instead (a
        # put is on every add-checkpoint's path).
        self._writes = metrics.archive_writes
        self._counters = {(kind, outcome): self._writes.labels(kind, outcome)
                          for kind in ("cosigned", "evidence")
                          for outcome in ("written", "present", "error")}

    def put(self, key: str, data: bytes) -> bool:
        kind = key.partition("/")[0]
        try:
            written = self._archive.put(key, data)
        except StorageError:
            self._count(kind, "error")
            raise
        self._count(kind, "written" if written else "present")
        return written

    def _count(self, kind: str, outcome: str) -> None:
        counter = self._counters.get((kind, outcome))
        (counter if counter is not None else self._writes.labels(kind, outcome)).inc()
