"""The server's CPU per append, for paired runs of two checkouts on a busy machine.

    python -m bench.append_cpu unary16|batch|stream|inprocess [--seconds 6]

Starts a log server (SHA-256, dedup on, the default index), drives it with one workload and
prints one JSON line: the rate, the server's CPU time per call or per entry (``/proc/PID/stat``)
and, for ``unary16``, the empty call's rate with 16 in flight just before and the sequencer's
entries per batch. Run it from each checkout in turn (``cd`` there, this venv's python): the
figures that survive a loaded machine are the CPU per unit of work, not the rates
(BENCHMARKS.md, "Unary appends with 16 callers" and "Batched and streamed appends").
``inprocess`` needs no server: the CPU per entry (``time.thread_time()``) of ``prepare``, the
search index's rows and ``commit`` of a log opened as bench/search.py opens it (index on, dedup
on), over batches of 1,000 opaque entries and of 1,000 audit events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import load, procs
from bench.empty_server import UNARY
from bench.workload import (
    APPEND,
    APPEND_BATCH,
    APPEND_STREAM,
    EntrySource,
    append_requests,
    batch_requests,
    entries,
    stream_messages,
)

LOG = procs.LogSpec("bench.example/sha256-dedup", "sha256", True)
REQUESTS = 400  # of 1,000 entries (batch, stream)
WARMUP = 8


def _unary16(server: procs.Process, source: EntrySource, seconds: float) -> dict[str, Any]:
    empty = procs.start_empty_server()
    try:
        baseline = asyncio.run(
            load.unary_load(empty.address, UNARY, [b""] * 200_000, 16, seconds, 50)).rate
    finally:
        empty.stop()
    payloads = append_requests(LOG.origin, source, 200_000)
    before, cpu = procs.sequencer_batches(server, LOG.origin), server.cpu_seconds()
    result = asyncio.run(load.unary_load(server.address, APPEND, payloads, 16, seconds, 50))
    cpu = server.cpu_seconds() - cpu
    after = procs.sequencer_batches(server, LOG.origin)
    return {"rate": round(result.rate), "empty": round(baseline),
            "ratio": round(result.rate / baseline, 3),
            "cpu_us_per_call": round(cpu / result.calls * 1e6, 1),
            "per_batch": round((after[1] - before[1]) / max(1, after[0] - before[0]), 1)}


def _batches(server: procs.Process, source: EntrySource, seconds: float,
             stream: bool) -> dict[str, Any]:
    if stream:
        messages = stream_messages(LOG.origin, source, REQUESTS, 1000)
        asyncio.run(load.bidi_load(server.address, APPEND_STREAM, messages[:WARMUP]))
        cpu = server.cpu_seconds()
        result = asyncio.run(
            load.bidi_load(server.address, APPEND_STREAM, messages[WARMUP:], seconds))
    else:
        payloads = batch_requests(LOG.origin, source, REQUESTS, 1000)
        asyncio.run(load.unary_load(server.address, APPEND_BATCH, payloads[:WARMUP], 4, 10))
        cpu = server.cpu_seconds()
        result = asyncio.run(
            load.unary_load(server.address, APPEND_BATCH, payloads[WARMUP:], 4, seconds))
    cpu = server.cpu_seconds() - cpu
    entries = result.calls * 1000
    return {"rate": round(entries / result.seconds),
            "cpu_us_per_entry": round(cpu / entries * 1e6, 2)}


def _inprocess(kind: str, batches: int = 60, warmup: int = 5) -> dict[str, float]:
    from bench.search import _BatchClock, _events, _open, _zipf  # the log bench/search.py appends to

    rng, cum = random.Random(18), _zipf()
    with tempfile.TemporaryDirectory() as directory:
        db, store, runtime = _open(Path(directory) / "db", _BatchClock(), True,
                                      Path(directory) / "key")
        try:
            rows = store.extra_rows
            spent = {"prepare": 0.0, "rows": 0.0, "commit": 0.0}
            for n in range(warmup + batches):
                first = n * 1000
                batch = (entries(f"cpu{time.time_ns()}", first, first + 1000) if kind == "opaque"
                         else _events(rng, first, 1000, cum))
                started = time.thread_time()
                prepared = store.prepare(batch, True)
                prepared_at = time.thread_time()
                if rows is not None:
                    rows(prepared.entries)  # what commit adds for the index, timed alone
                rows_at = time.thread_time()
                store.commit(prepared)  # with the index's rows again
                if n >= warmup:
                    spent["prepare"] += prepared_at - started
                    spent["rows"] += rows_at - prepared_at
                    spent["commit"] += time.thread_time() - rows_at
        finally:
            db.close()
    del runtime
    return {f"{name}_us_per_entry": round(cpu / (batches * 1000) * 1e6, 2)
            for name, cpu in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=("unary16", "batch", "stream", "inprocess"))
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    out: dict[str, Any] = {"code": Path.cwd().name, "workload": args.workload,
                           "load": round(os.getloadavg()[0], 2)}
    if args.workload == "inprocess":
        out.update({kind: _inprocess(kind) for kind in ("opaque", "events")})
        print(json.dumps(out), flush=True)
        return
    with tempfile.TemporaryDirectory() as directory:
        server = procs.start_log_server(procs.write_config(Path(directory), (LOG,)))
        try:
            source = EntrySource(f"cpu{time.time_ns()}")
            if args.workload == "unary16":
                out.update(_unary16(server, source, args.seconds))
            else:
                out.update(_batches(server, source, args.seconds, args.workload == "stream"))
        finally:
            server.stop()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
