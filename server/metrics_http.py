"""What the log server reports at scrape time, per log, for an operator to alert on (the rules
are in deploy/prometheus/alerts.yml; the listener is ``common.metrics_http``):

    auditlog_checkpoint_size{log}          size of the latest signed checkpoint
    auditlog_unsigned_entries{log}         entries written but in no checkpoint yet
    auditlog_checkpoint_age_seconds{log}   seconds since the checkpoint size last moved
    auditlog_sequencer_queue_entries{log}  entries waiting for the sequencer
    auditlog_cosigned_size{log, witness}   the latest size each witness cosigned, as the log
                                           knows it (``auditlog_witness_*`` are the witness's own)
    auditlog_quorum{log}                   cosignatures the log's policy wants
    auditlog_quorum_size{log}              the latest size that met that quorum
    auditlog_log_up{log}                   1, or 0 when the log refuses service
    auditlog_database_bytes                the database's files on disk

The checkpoint age is measured by this process: the time since it first saw the current
checkpoint size (the server signs at start, so after a restart the age starts at 0). Witness
sizes come from the cosignatures the log holds (``server.cosigning.LogWitnesses``), whether
pushed or pulled; a witness that has cosigned nothing since the start reports 0.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.tree.cosignature import CosignatureVerifier
from auditlog_tlog.tree.errors import AuditLogError


class LogsCollector(Collector):
    """The scrape-time gauges of every log of one server."""

    def __init__(self, logs: Mapping[str, LogRuntime], database: Path,
                 clock: Callable[[], float] = time.time) -> None:
        self._logs = logs
        self._database = database
        self._clock = clock
        self._seen: dict[str, tuple[int, float]] = {}  # log -> (checkpoint size, first seen)
        self._names = {
            origin: [CosignatureVerifier.from_vkey(w.vkey).name for w in rt.config.witnesses]
            for origin, rt in logs.items()
        }
        for origin in logs:
            self.checkpoint_age(origin)

    def checkpoint_age(self, origin: str) -> float | None:
        """Seconds since this process first saw the log's current checkpoint size; None when
        the log refuses service."""
        runtime = self._logs[origin]
        if runtime.failure is not None:
            return None
        size, now = runtime.store.checkpoint_size, self._clock()
        seen = self._seen.get(origin)
        if seen is None or seen[0] != size:
            self._seen[origin] = seen = (size, now)
        return now - seen[1]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        def family(name: str, doc: str, labels: tuple[str, ...] = ("log",)) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=list(labels))

        up = family("auditlog_log_up", "1 when the log serves, 0 when it refuses service")
        size = family("auditlog_checkpoint_size", "Size of the latest signed checkpoint")
        unsigned = family("auditlog_unsigned_entries", "Entries written but not yet signed")
        age = family("auditlog_checkpoint_age_seconds",
                     "Seconds since the checkpoint size last changed (measured by this process)")
        queue = family("auditlog_sequencer_queue_entries", "Entries waiting for the sequencer")
        cosigned = family("auditlog_cosigned_size",
                          "The latest checkpoint size each witness cosigned", ("log", "witness"))
        quorum = family("auditlog_quorum", "Cosignatures the log's witness policy wants")
        quorum_size = family("auditlog_quorum_size",
                             "The latest checkpoint size cosigned by a quorum of witnesses")
        for origin, runtime in self._logs.items():
            seconds = self.checkpoint_age(origin)
            up.add_metric([origin], 0 if seconds is None else 1)
            if seconds is None:
                continue
            store = runtime.store
            checkpoint_size = store.checkpoint_size
            size.add_metric([origin], checkpoint_size)
            unsigned.add_metric([origin], store.size - checkpoint_size)
            age.add_metric([origin], seconds)
            with contextlib.suppress(AuditLogError):  # a log that refuses writes has no queue
                queue.add_metric([origin], runtime.sequencer().queued)
            if not self._names[origin]:
                continue
            sizes, met = self.witness_sizes(origin)
            for name, cosigned_size in sizes.items():
                cosigned.add_metric([origin, name], cosigned_size)
            quorum.add_metric([origin], runtime.witnesses.quorum)
            quorum_size.add_metric([origin], met)
        yield from (up, size, unsigned, age, queue, cosigned, quorum, quorum_size)
        total = family("auditlog_database_bytes", "Bytes of the database's files on disk", ())
        total.add_metric([], _bytes_under(self._database))
        yield total


    def witness_sizes(self, origin: str) -> tuple[dict[str, int], int]:
        """Each configured witness's latest cosigned size (0: none since the start), and the
        latest size that met the quorum, for a log that serves."""
        runtime = self._logs[origin]
        witnesses = runtime.witnesses
        sizes = witnesses.cosigned_sizes()
        met = witnesses.quorum_size()
        try:  # the latest checkpoint's cosignatures count even if attached before a restart
            _, latest, names = runtime.latest_checkpoint()
        except AuditLogError:
            latest, names = 0, []
        for name in names:
            sizes[name] = max(sizes.get(name, 0), latest)
        if names and len(names) >= witnesses.quorum:
            met = max(met, latest)
        return {name: sizes.get(name, 0) for name in self._names[origin]}, met


def _bytes_under(directory: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue  # compaction removed it between the listing and the stat
    return total


def log_problems(logs: Mapping[str, LogRuntime]) -> list[str]:
    """What /healthz reports: each log that refuses service, and why."""
    return [f"log {origin} refuses service: {runtime.failure}"
            for origin, runtime in logs.items() if runtime.failure is not None]
