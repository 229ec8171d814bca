"""Baselines measured in the same run, so that every other figure can be given as a ratio.

- the empty unary gRPC call (:mod:`bench.empty_server`): p50 latency with one blocking caller
  (client and server pinned to different CPUs, see :func:`bench.procs.pinned`), and calls/s
  with 16 calls in flight (not pinned);
- the gRPC health Check against the log server itself (the same, through our server process);
- a client stream of empty messages (messages/s) and a bidirectional stream (one answer each);
- RFC 6962 leaf hashing of 256-byte entries with SHA-256 and BLAKE3 (leaves/s, one core), and
  BLAKE3 on large buffers (GB/s), for bulk integrity checks;
- a synced RocksDB WriteBatch through ``storage.db.Database``: one small put, and 1,000 entries.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import blake3

from auditlog_tlog.storage.db import Database
from auditlog_tlog.tree.hashing import BLAKE3, SHA256, Hasher
from bench import load, procs
from bench.empty_server import BIDI_STREAM, CLIENT_STREAM, UNARY
from bench.plan import Plan
from bench.stats import latency_summary, summary
from bench.workload import ENTRY_BYTES, HEALTH_CHECK, entry

IN_FLIGHT = 16


def unary_p50(server: procs.Process, method: str, payload: bytes, plan: Plan) -> dict[str, Any]:
    with procs.pinned(server):
        runs = [
            load.sync_latencies(
                server.address, method, [payload] * plan.latency_calls, plan.seconds)[0]
            for _ in range(plan.runs)
        ]
    return latency_summary(runs)


def unary_rate(address: str, method: str, payload: bytes, plan: Plan) -> dict[str, Any]:
    payloads = [payload] * plan.max_rate_calls
    rates = [
        asyncio.run(load.unary_load(address, method, payloads, IN_FLIGHT, plan.seconds, 50)).rate
        for _ in range(plan.runs)
    ]
    return summary(rates, "calls/s", 0)


def stream_rates(address: str, plan: Plan) -> dict[str, Any]:
    messages = [b""] * plan.stream_messages
    client = [
        asyncio.run(load.client_stream_load(address, CLIENT_STREAM, messages)).rate
        for _ in range(plan.runs)
    ]
    bidi = [
        asyncio.run(load.bidi_load(address, BIDI_STREAM, messages)).rate
        for _ in range(plan.runs)
    ]
    return {
        "client_stream": summary(client, "messages/s", 0),
        "bidi_stream": summary(bidi, "messages/s", 0),
    }


def empty_calls(server: procs.Process, plan: Plan) -> dict[str, Any]:
    return {
        "unary_1": unary_p50(server, UNARY, b"", plan),
        "unary_16_rate": unary_rate(server.address, UNARY, b"", plan),
        **stream_rates(server.address, plan),
    }


def health_calls(server: procs.Process, plan: Plan) -> dict[str, Any]:
    from grpc_health.v1 import health_pb2

    payload = health_pb2.HealthCheckRequest().SerializeToString()
    return {
        "unary_1": unary_p50(server, HEALTH_CHECK, payload, plan),
        "unary_16_rate": unary_rate(server.address, HEALTH_CHECK, payload, plan),
    }


def _leaf_rate(hasher: Hasher, entries: list[bytes], seconds: float) -> float:
    hash_leaf = hasher.hash_leaf
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for e in entries:
            hash_leaf(e)
        count += len(entries)
        now = time.perf_counter()
        if now > deadline:
            return count / (now - started)


def hashing(plan: Plan) -> dict[str, Any]:
    entries = [entry("hash", n) for n in range(10_000)]
    out: dict[str, Any] = {}
    for hasher in (SHA256, BLAKE3):
        rates = [_leaf_rate(hasher, entries, plan.seconds / 2) for _ in range(plan.runs)]
        out[f"{hasher.name}_leaves"] = summary(rates, "leaves/s", 0)
    buffer = os.urandom(64 * 1024 * 1024)
    bulk = []
    for _ in range(plan.runs):
        started = time.perf_counter()
        blake3.blake3(buffer, max_threads=blake3.blake3.AUTO).digest()
        bulk.append(len(buffer) / (time.perf_counter() - started) / 1e9)
    out["blake3_bulk_64MiB"] = summary(bulk, "GB/s", 2)
    out["entry_bytes"] = ENTRY_BYTES
    return out


def synced_writes(plan: Plan, scratch: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=scratch) as directory:
        db = Database(Path(directory) / "db")
        try:
            small_runs: list[list[float]] = []
            big_runs: list[float] = []
            n = 0
            for _ in range(plan.runs):
                samples = []
                for _ in range(plan.write_calls):
                    batch = db.batch()
                    batch.put(b"k" + n.to_bytes(8, "big"), entry("wb", n))
                    n += 1
                    started = time.perf_counter()
                    db.write(batch)
                    samples.append(time.perf_counter() - started)
                small_runs.append(samples)
                batch = db.batch()
                for _ in range(1000):
                    batch.put(b"k" + n.to_bytes(8, "big"), entry("wb", n))
                    n += 1
                started = time.perf_counter()
                db.write(batch)
                big_runs.append((time.perf_counter() - started) * 1e6)
        finally:
            db.close()
    return {
        "one_put": latency_summary(small_runs),
        "batch_1000_entries": summary(big_runs, "µs", 0),
    }
