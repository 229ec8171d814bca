"""The server's CPU per proof call against the empty call's, for paired runs of two checkouts.

    python -m bench.proof_cpu --data DIR [--size 10000] [--rounds 3] [--calls 800]

Builds a log of ``--size`` entries in DIR over AppendStream (once: a DIR that holds a server
config is reused as it is), then, each round, starts a log server from this checkout on it and
times in turn the empty call (bench/empty_server.py), GetInclusionProof and
GetConsistencyProof, one blocking caller each, client and servers pinned apart
(:func:`bench.procs.pinned`), as the scale section does, once the log is at rest
(:func:`bench.scale.at_rest`: the wait and the background CPU are in ``rest``), with the
log's SST files held in the page cache (:func:`bench.resident.held`). Prints one JSON line:
the medians over the rounds of each p50, of the serving process's CPU per call
(``/proc/PID/stat``) and of the bytes it read from disk per call (``/proc/PID/io``), and the
first two's ratios to the empty call's. Run it from each checkout
in turn on the same DIR (``cd`` there, one venv's python): on a busy machine the CPU per call
is the figure that survives, and only rounds that alternate the checkouts compare (docs/call-cost.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import load, procs, resident, scale
from bench.empty_server import UNARY
from bench.workload import CONSISTENCY, INCLUSION, consistency_requests, inclusion_requests


def _timed(process: procs.Process, method: str,
           payloads: list[bytes]) -> tuple[float, float, float]:
    """(p50 µs, CPU µs per call, bytes read from disk per call) of ``process`` over
    ``payloads`` (20 of them warm-up)."""
    before, disk = process.cpu_seconds(), resident.disk_read_bytes(process.pid)
    samples, _ = load.sync_latencies(process.address, method, payloads, 120)
    cpu = (process.cpu_seconds() - before) / len(payloads) * 1e6
    read = (resident.disk_read_bytes(process.pid) - disk) / len(payloads)
    samples.sort()
    return samples[len(samples) // 2] * 1e6, cpu, read


def measure(data: Path, size: int, rounds: int, calls: int) -> dict[str, Any]:
    config = data / "server.toml"
    if not config.exists():
        procs.write_config(data, (scale.SPEC,))
        server = procs.start_log_server(config)
        try:
            asyncio.run(scale.build(server.address, 0, size, 1000))
        finally:
            server.stop()
    rng = random.Random(6962)
    runs: dict[str, list[tuple[float, float, float]]] = {
        "empty": [], "inclusion": [], "consistency": []}
    waits: list[dict[str, Any]] = []
    empty = procs.start_empty_server()
    try:
        for _ in range(rounds):
            server = procs.start_log_server(config)
            try:
                # A log just built (or reopened after its build) compacts in the server's
                # RocksDB threads for up to minutes: measure it at rest, as the scale section.
                waits.append(scale.at_rest(server.background_cpu_seconds))
                inclusion = inclusion_requests(
                    scale.ORIGIN, [(rng.randrange(size), size) for _ in range(calls + 20)])
                consistency = consistency_requests(
                    scale.ORIGIN, [(rng.randrange(1, size), size) for _ in range(calls + 20)])
                with resident.held(data / "data" / "db"), procs.pinned(server, empty):
                    runs["empty"].append(_timed(empty, UNARY, [b""] * (calls + 20)))
                    runs["inclusion"].append(_timed(server, INCLUSION, inclusion))
                    runs["consistency"].append(_timed(server, CONSISTENCY, consistency))
            finally:
                server.stop()
    finally:
        empty.stop()
    out: dict[str, Any] = {"code": Path.cwd().name, "size": size, "rounds": rounds,
                           "load": os.getloadavg()[0],
                           "rest": {"waited_s": [w["waited_s"] for w in waits],
                                    "background_cpu_s": [w["background_cpu_s"] for w in waits]}}
    base_p50 = statistics.median(p for p, _, _ in runs["empty"])
    base_cpu = statistics.median(c for _, c, _ in runs["empty"])
    for kind, figures in runs.items():
        p50 = statistics.median(p for p, _, _ in figures)
        cpu = statistics.median(c for _, c, _ in figures)
        out[kind] = {"p50_us": round(p50, 1), "cpu_us_per_call": round(cpu, 1),
                     "p50_ratio": round(p50 / base_p50, 3), "cpu_ratio": round(cpu / base_cpu, 3),
                     "disk_read_bytes_per_call": round(statistics.median(d for _, _, d in figures))}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the log's directory")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=800)
    args = parser.parse_args()
    print(json.dumps(measure(args.data.resolve(), args.size, args.rounds, args.calls)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
