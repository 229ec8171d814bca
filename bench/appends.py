"""Appends over gRPC with durable acknowledgement, 256-byte entries.

One server process holds four logs (SHA-256 and BLAKE3, dedup on and off) with the default
sequencer settings (no batch delay, a checkpoint signed for every batch), and a fifth that
signs at most one checkpoint per second (``checkpoint_interval_ms = 1000``), to show what the
per-batch signature costs. For each log:

- ``unary_1``: one blocking caller, Append after Append (p50 latency and entries/s; client
  and server pinned to different CPUs as for every latency figure);
- ``unary_16``: 16 Append calls in flight (entries/s, and the ratio to the empty unary call
  with 16 in flight, measured just before each run: the budget asks for >= 0.70);
- ``batch``: AppendBatch of ``plan.batch_size`` entries, 4 requests in flight;
- ``stream``: one AppendStream, messages of ``plan.batch_size`` entries.

Then, for each batch size on a fresh server with the default log (SHA-256, dedup on), entries/s
of AppendBatch and AppendStream (``sweep``). Every answer is checked after the clock
stops: one result per entry, fresh indexes, nothing reported as a duplicate.
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path
from typing import Any

from auditlog_tlog.proto import auditlog_pb2 as pb
from bench import load, machine, procs
from bench.empty_server import UNARY
from bench.plan import Plan
from bench.stats import latency_summary, summary
from bench.workload import (
    APPEND,
    APPEND_BATCH,
    APPEND_STREAM,
    EntrySource,
    append_requests,
    batch_requests,
    stream_messages,
)

LOGS = (
    procs.LogSpec("bench.example/sha256-dedup", "sha256", True),
    procs.LogSpec("bench.example/sha256-nodedup", "sha256", False),
    procs.LogSpec("bench.example/blake3-dedup", "blake3", True),
    procs.LogSpec("bench.example/blake3-nodedup", "blake3", False),
    # Not a default: one checkpoint per second instead of one per batch (see BENCHMARKS.md).
    procs.LogSpec("bench.example/sha256-dedup-cp1s", "sha256", True, checkpoint_interval_ms=1000),
)
BATCH_IN_FLIGHT = 4


class CheckError(AssertionError):
    """An answer that does not say what a correct server would."""


def _check_results(results: list[pb.AppendResult], want: int, seen: set[int]) -> None:
    if len(results) != want:
        raise CheckError(f"got {len(results)} results, want {want}")
    for r in results:
        if r.duplicate or r.index in seen:
            raise CheckError(f"entry at index {r.index} reported as a duplicate or twice")
        seen.add(r.index)


def check_unary(responses: list[bytes], seen: set[int]) -> None:
    _check_results([pb.AppendResponse.FromString(r).result for r in responses], len(responses), seen)


def check_batches(responses: list[bytes], size: int, seen: set[int]) -> None:
    for raw in responses:
        _check_results(list(pb.AppendBatchResponse.FromString(raw).results), size, seen)


def check_stream(responses: list[bytes], size: int, seen: set[int]) -> None:
    for sequence, raw in enumerate(responses):
        response = pb.AppendStreamResponse.FromString(raw)
        if response.sequence != sequence:
            raise CheckError(f"acknowledgement {sequence} carries sequence {response.sequence}")
        _check_results(list(response.results), size, seen)


class Appender:
    """Runs the append figures of one log against a running server."""

    def __init__(self, server: procs.Process, log: procs.LogSpec, plan: Plan) -> None:
        self.server = server
        self.log = log
        self.plan = plan
        self.source = EntrySource(log.origin.rsplit("/", 1)[1])
        self.seen: set[int] = set()

    def _batches_since(self, before: tuple[float, float]) -> float | None:
        count, total = procs.sequencer_batches(self.server, self.log.origin)
        batches = count - before[0]
        return round((total - before[1]) / batches, 1) if batches else None

    def unary_1(self) -> dict[str, Any]:
        runs, rates = [], []
        for _ in range(self.plan.runs):
            payloads = append_requests(self.log.origin, self.source, self.plan.unary_calls)
            with procs.pinned(self.server):
                samples, responses = load.sync_latencies(
                    self.server.address, APPEND, payloads, self.plan.seconds
                )
            check_unary(responses, self.seen)
            runs.append(samples)
            rates.append(len(samples) / sum(samples))
        return {**latency_summary(runs), "rate": summary(rates, "entries/s", 0)}

    def unary_16(self, empty: procs.Process) -> dict[str, Any]:
        """Each run times the empty call with 16 in flight, then Append with 16 in flight, so
        that the ratio compares two rates taken a few seconds apart on the same machine."""
        rates, empty_rates, ratios, per_batch = [], [], [], []
        for _ in range(self.plan.runs):
            baseline = asyncio.run(load.unary_load(
                empty.address, UNARY, [b""] * self.plan.max_rate_calls, 16, self.plan.seconds, 50
            )).rate
            payloads = append_requests(self.log.origin, self.source, self.plan.max_rate_calls)
            before = procs.sequencer_batches(self.server, self.log.origin)
            result = asyncio.run(
                load.unary_load(self.server.address, APPEND, payloads, 16, self.plan.seconds, 50)
            )
            per_batch.append(self._batches_since(before))
            check_unary(result.responses, self.seen)
            rates.append(result.rate)
            empty_rates.append(baseline)
            ratios.append(result.rate / baseline)
        batch_means = [b for b in per_batch if b is not None]
        return {
            "rate": summary(rates, "entries/s", 0),
            "empty_rate": summary(empty_rates, "calls/s", 0),
            "ratio_to_empty_16": summary(ratios, "×", 3),
            "entries_per_sequencer_batch": round(statistics.median(batch_means), 1)
            if batch_means else None,
        }

    def batch(self, size: int, entries: int) -> dict[str, Any]:
        rates = []
        count = max(1, entries // size)
        for _ in range(self.plan.runs):
            payloads = batch_requests(self.log.origin, self.source, count, size)
            result = asyncio.run(load.unary_load(
                self.server.address, APPEND_BATCH, payloads, BATCH_IN_FLIGHT, self.plan.seconds
            ))
            check_batches(result.responses, size, self.seen)
            rates.append(result.calls * size / result.seconds)
        return {"batch_size": size, "rate": summary(rates, "entries/s", 0)}

    def stream(self, size: int, entries: int) -> dict[str, Any]:
        rates = []
        count = max(1, entries // size)
        for _ in range(self.plan.runs):
            messages = stream_messages(self.log.origin, self.source, count, size)
            result = asyncio.run(
                load.bidi_load(self.server.address, APPEND_STREAM, messages, self.plan.seconds)
            )
            check_stream(result.responses, size, self.seen)
            rates.append(result.calls * size / result.seconds)
        return {"batch_size": size, "rate": summary(rates, "entries/s", 0)}


def run(plan: Plan, scratch: Path, empty: procs.Process, log: Any) -> dict[str, Any]:
    """All append figures; ``empty`` serves the baseline of the unary ratio."""
    out: dict[str, Any] = {"logs": {}, "sweep": {"batch": [], "stream": []}}
    server = procs.start_log_server(procs.write_config(scratch / "appends", LOGS))
    try:
        for spec in LOGS:
            log(f"appends: {spec.origin}")
            appender = Appender(server, spec, plan)
            out["logs"][spec.origin] = {
                "hash": spec.hash,
                "dedup": spec.dedup,
                "checkpoint_interval_ms": spec.checkpoint_interval_ms,
                "unary_1": appender.unary_1(),
                "unary_16": appender.unary_16(empty),
                "batch": appender.batch(plan.batch_size, plan.append_entries),
                "stream": appender.stream(plan.batch_size, plan.append_entries),
            }
        out["server_peak_rss_mib"] = machine.peak_rss_mib(server.pid)
    finally:
        server.stop()
    # Each point of the sweep gets a fresh server and database, so that the curve shows the
    # batch size and not the millions of entries the runs before it left in the database.
    for size in plan.sweep:
        log(f"appends: sweep, batch size {size}")
        config = procs.write_config(scratch / f"appends-sweep-{size}", LOGS[:1])
        server = procs.start_log_server(config)
        try:
            default = Appender(server, LOGS[0], plan)
            entries = min(plan.append_entries, size * plan.sweep_messages)
            out["sweep"]["batch"].append(default.batch(size, entries))
            out["sweep"]["stream"].append(default.stream(size, entries))
        finally:
            server.stop()
    return out
