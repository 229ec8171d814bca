"""How long a synced write keeps other Python threads waiting (docs/speed.md).

A thread writes one-put synced batches in a loop while the main thread sleeps 0.5 ms again and
again; how late each sleep returns is the time the main thread waited for the GIL (plus the
scheduler's own delay, the same in both modes). Two writers, each in its own database:

- ``rocksdb_sync``: rocksdict's ``write`` with ``WriteOptions.sync = true``, which holds the
  GIL through the fsync (what ``storage.db.Database`` did before);
- ``database``: ``storage.db.Database.write``, which writes without sync and then calls
  ``fdatasync`` itself, letting the GIL go while the disk works.

In the server the main thread is the event loop, and the writer thread the sequencer's: the
lag is how long the loop cannot take requests while a batch is made durable.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from auditlog_tlog.storage.db import Database
from bench.plan import Plan
from bench.stats import latency_summary, summary
from bench.workload import entry

SLEEP_S = 0.0005


def _lag_while(write: Callable[[int], None], seconds: float) -> tuple[list[float], float]:
    """Sleep overshoots (s) of the main thread while ``write`` runs in a loop; writes/s."""
    stop = threading.Event()
    done = [0]

    def writer() -> None:
        while not stop.is_set():
            write(done[0])
            done[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    lags = []
    started = time.perf_counter()
    end = started + seconds
    try:
        while time.perf_counter() < end:
            t = time.perf_counter()
            time.sleep(SLEEP_S)
            lags.append(time.perf_counter() - t - SLEEP_S)
    finally:
        stop.set()
        thread.join()
    return lags, done[0] / (time.perf_counter() - started)


def run(plan: Plan, scratch: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=scratch) as directory:
        raw = Rdict(str(Path(directory) / "raw"), Options(raw_mode=True))
        sync = WriteOptions()
        sync.sync = True
        db = Database(Path(directory) / "db")

        def raw_write(n: int) -> None:
            batch = WriteBatch(raw_mode=True)
            batch.put(n.to_bytes(8, "big"), entry("gil", n))
            raw.write(batch, sync)

        def db_write(n: int) -> None:
            batch = db.batch()
            batch.put(n.to_bytes(8, "big"), entry("gil", n))
            db.write(batch)

        modes = (("rocksdb_sync", raw_write), ("database", db_write))
        lags: dict[str, list[list[float]]] = {name: [] for name, _ in modes}
        rates: dict[str, list[float]] = {name: [] for name, _ in modes}
        try:
            for _ in range(plan.runs):  # the modes take turns, so that load changes hit both
                for name, write in modes:
                    samples, rate = _lag_while(write, plan.seconds)
                    lags[name].append(samples)
                    rates[name].append(rate)
        finally:
            raw.close()
            db.close()
    for name, _ in modes:
        out[name] = {"lag": latency_summary(lags[name]), "writes": summary(rates[name], "writes/s", 0)}
    return out
