"""Tree sizes 10^4 .. 10^7: built over gRPC, then proofs, restart, memory and disk at each size.

One log (SHA-256, dedup on: the defaults) is grown in stages through the public append path,
one AppendStream of ``plan.build_batch``-entry messages, and measured at each stage size:

1. the server is stopped (SIGTERM, graceful) and the bytes of its data dir are counted;
2. in this process: ``Database`` + ``LogStore`` open time, and inclusion / consistency proofs
   (µs per proof, random index / size1 in the tree, size = the stage size), timed once the
   compactions those opens start in this process have stopped (``in_process.rest``, as in
   4.), with the log's files held in the page cache (:func:`bench.resident.held`, as in 4.),
   after one run reported apart (``warm_up``); a sample of the proofs is verified against the
   stored root and the previous stage's root;
3. the server is restarted ``plan.restarts`` times: seconds from spawn to serving (an empty
   log's restart is measured first, as the baseline of what Python and gRPC start-up cost),
   with the package byte-compiled first, as installing its wheel does;
4. over gRPC: p50 and p99 of GetInclusionProof and GetConsistencyProof with one blocking
   caller, interleaved with the empty unary call and the health Check, so that the ratio
   proof / empty call compares numbers taken seconds apart (client and servers pinned to
   different CPUs, see :func:`bench.procs.pinned`); and the CPU time per call of the process
   that served each kind (``/proc/PID/stat`` before and after a run, over its calls), which a
   neighbour's load on the machine moves much less than latency, split into the serving
   threads' and RocksDB's background threads' (``/proc/PID/task``). The runs measure a log at
   rest: one run right after the restart is reported apart (``after_restart``), then the
   bench waits (:func:`at_rest`, 120 s at most) until the compactions that the build and the
   restarts left behind have stopped using CPU, and reports how long it waited and how much
   background CPU ran (``rest``; docs/proof-reads.md, "A log at rest"). During those runs
   the log's SST files are held in the page cache (``page_cache``: this machine's kernel
   pages out file pages that look idle, and a proof then reads its stratum from disk), and
   each kind reports the bytes its serving process read from disk per call
   (``disk_read_bytes_per_call``, from ``/proc/PID/io``; docs/proof-reads.md, "The page
   cache");
5. RSS of the server after the restart and after the proof calls.
"""

from __future__ import annotations

import asyncio
import compileall
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.verify import verify_consistency, verify_inclusion
from bench import load, machine, procs, resident
from bench.empty_server import UNARY
from bench.plan import Plan
from bench.stats import latency_summary, percentile, summary
from bench.workload import (
    APPEND_STREAM,
    CONSISTENCY,
    HEALTH_CHECK,
    INCLUSION,
    consistency_requests,
    entries,
    inclusion_requests,
)

ORIGIN = "bench.example/scale"
SPEC = procs.LogSpec(ORIGIN, "sha256", True)
Log = Callable[[str], None]
# Before the proof calls are timed, the server's RocksDB threads must have used less than this
# share of one CPU over QUIET_WINDOW_S seconds (the log at rest), waiting REST_LIMIT_S at most.
QUIET_CPU_SHARE = 0.02
QUIET_WINDOW_S = 2.0
REST_LIMIT_S = 120.0


def _messages(start: int, end: int, batch: int) -> Iterator[bytes]:
    """AppendStream messages carrying entries [start, end), made as they are sent."""
    for sequence, first in enumerate(range(start, end, batch)):
        yield pb.AppendStreamRequest(
            log=ORIGIN if sequence == 0 else "", entries=entries("scale", first, min(end, first + batch)),
            sequence=sequence,
        ).SerializeToString()


async def build(address: str, start: int, end: int, batch: int) -> float:
    """Append entries [start, end) over one AppendStream; returns the seconds it took."""
    async with load.channel(address) as ch:
        call = ch.stream_stream(APPEND_STREAM)
        started = time.perf_counter()
        expected = start
        async for raw in call(_messages(start, end, batch)):
            results = pb.AppendStreamResponse.FromString(raw).results
            if not results or results[0].index != expected or results[-1].duplicate:
                raise AssertionError(f"stream acknowledgement out of order at {expected}")
            expected += len(results)
        elapsed = time.perf_counter() - started
    if expected != end:
        raise AssertionError(f"stream acknowledged up to {expected}, want {end}")
    return elapsed


def build_with_cpu(server: procs.Process, start: int, end: int,
                   batch: int) -> tuple[float, dict[str, float]]:
    """:func:`build` on ``server``: the seconds it took, and the server's CPU per entry
    appended (µs) in its serving threads (Python's, gRPC's) and in RocksDB's background ones
    (flushes, compactions): ``procs.thread_cpu_seconds``'s kinds."""
    before = server.thread_cpu_seconds()
    seconds = asyncio.run(build(server.address, start, end, batch))
    after = server.thread_cpu_seconds()
    return seconds, {kind: (after[kind] - before[kind]) * 1e6 / (end - start) for kind in after}


def _pairs(size: int, count: int, rng: random.Random) -> tuple[list[tuple[int, int]], ...]:
    inclusion = [(rng.randrange(size), size) for _ in range(count)]
    consistency = [(rng.randrange(1, size), size) for _ in range(count)]
    return inclusion, consistency


def _in_process(
    data: Path, size: int, plan: Plan, rng: random.Random, earlier: dict[int, bytes]
) -> tuple[dict[str, Any], bytes]:
    opens, store_opens = [], []
    background = _own_background_cpu()
    for _ in range(plan.restarts):
        started = time.perf_counter()
        db = Database(data)
        opened = time.perf_counter()
        store = LogStore(db, ORIGIN, SHA256)
        store_opens.append((time.perf_counter() - opened) * 1e3)
        opens.append((time.perf_counter() - started) * 1e3)
        if store.size != size:
            raise AssertionError(f"log holds {store.size} entries, want {size}")
        db.close()
    db = Database(data)
    try:
        store = LogStore(db, ORIGIN, SHA256)
        # The opens above leave RocksDB compacting what the build flushed, in this process's
        # threads: time the proofs on the log at rest, as over gRPC (at_rest).
        rest = at_rest(lambda: _own_background_cpu() - background)
        with resident.held(data) as page_cache:
            # The first ~10^4 proofs on a log just built ran ~5-10 % slower than the next at
            # 10^6 (a second process on the same log was not slower: likely the kernel's state
            # of the pages; docs/proof-reads.md): one run first, reported apart, as over gRPC
            # the run right after a restart.
            first = _proof_runs(store, size, plan, rng, 1)
            disk_before = resident.disk_read_bytes()
            inclusion_runs, consistency_runs, inclusion = _proof_runs(
                store, size, plan, rng, plan.runs)
            disk = resident.disk_read_bytes() - disk_before
        for index, tree_size in inclusion[:20]:
            proof = store.inclusion_proof(index, tree_size)
            verify_inclusion(SHA256, index, size, store.leaf_hash(index), proof, store.root)
        for size1, root1 in earlier.items():
            verify_consistency(
                SHA256, size1, size, store.consistency_proof(size1, size), root1, store.root
            )
        root = store.root
    finally:
        db.close()
    return {
        "open_ms": summary(opens, "ms", 2),
        "logstore_open_ms": summary(store_opens, "ms", 3),
        "inclusion": _mean_and_tail(inclusion_runs),
        "consistency": _mean_and_tail(consistency_runs),
        "rest": rest,
        "warm_up": {"inclusion": _mean_and_tail(first[0]), "consistency": _mean_and_tail(first[1])},
        "page_cache": page_cache,
        "disk_read_bytes_per_proof": round(disk / (2 * plan.runs * plan.proof_calls), 1),
        "verified": True,
    }, root


def _proof_runs(
    store: LogStore, size: int, plan: Plan, rng: random.Random, count: int
) -> tuple[list[list[float]], list[list[float]], list[tuple[int, int]]]:
    """``count`` runs of ``plan.proof_calls`` random inclusion proofs, then as many
    consistency proofs, at tree size ``size``: the seconds of each proof, and the last run's
    inclusion pairs (index, size)."""
    inclusion_runs, consistency_runs = [], []
    inclusion: list[tuple[int, int]] = []
    clock = time.perf_counter
    for _ in range(count):
        inclusion, consistency = _pairs(size, plan.proof_calls, rng)
        samples = []
        for index, tree_size in inclusion:
            started = clock()
            store.inclusion_proof(index, tree_size)
            samples.append(clock() - started)
        inclusion_runs.append(samples)
        samples = []
        for size1, size2 in consistency:
            started = clock()
            store.consistency_proof(size1, size2)
            samples.append(clock() - started)
        consistency_runs.append(samples)
    return inclusion_runs, consistency_runs, inclusion


def _own_background_cpu() -> float:
    """CPU seconds this process's RocksDB threads have used so far (all its databases')."""
    return procs.thread_cpu_seconds(os.getpid())["background"]


def _mean_and_tail(runs: list[list[float]]) -> dict[str, Any]:
    out = latency_summary(runs)
    out["mean"] = summary([statistics.fmean(r) * 1e6 for r in runs], "µs", 1)
    return out


def _timed(process: procs.Process, cpu: dict[str, list[float]], address: str, method: str,
           payloads: list[bytes], seconds: float) -> tuple[list[float], list[bytes]]:
    """``load.sync_latencies``, adding the serving process's CPU µs per call to ``cpu``: the
    whole process's (``all``), RocksDB's background threads'
    (:meth:`bench.procs.Process.background_cpu_seconds`) and the rest, its serving threads'
    (gRPC may end a thread of its pool during a run: the whole process's figure keeps it);
    its warm-up calls and the connection's set-up included (~1 % of a run's CPU). And the
    bytes the process read from disk per call (``disk``: a stratum not in the page cache)."""
    before, background = process.cpu_seconds(), process.background_cpu_seconds()
    disk = resident.disk_read_bytes(process.pid)
    samples, responses = load.sync_latencies(address, method, payloads, seconds)
    calls = len(samples) + min(20, len(payloads))
    whole = (process.cpu_seconds() - before) / calls * 1e6
    rocksdb = (process.background_cpu_seconds() - background) / calls * 1e6
    cpu["all"].append(whole)
    cpu["background"].append(rocksdb)
    cpu["serving"].append(whole - rocksdb)
    cpu["disk"].append((resident.disk_read_bytes(process.pid) - disk) / calls)
    return samples, responses


def _latency_runs(
    server: procs.Process, empty: procs.Process, size: int, plan: Plan, rng: random.Random,
    root: bytes, count: int,
) -> tuple[dict[str, list[list[float]]], dict[str, dict[str, list[float]]]]:
    """``count`` runs of: the empty call, the health Check, inclusion and consistency proofs,
    in turn; their latencies, and the CPU µs per call of the process that served them."""
    from grpc_health.v1 import health_pb2

    health = health_pb2.HealthCheckRequest().SerializeToString()
    names = ("empty", "health", "inclusion", "consistency")
    runs: dict[str, list[list[float]]] = {k: [] for k in names}
    cpu: dict[str, dict[str, list[float]]] = {
        k: {"all": [], "serving": [], "background": [], "disk": []} for k in names}
    calls, seconds = plan.grpc_proof_calls, plan.seconds
    for _ in range(count):
        inclusion, consistency = _pairs(size, calls + 20, rng)
        runs["empty"].append(
            _timed(empty, cpu["empty"], empty.address, UNARY, [b""] * calls, seconds)[0])
        runs["health"].append(_timed(server, cpu["health"], server.address, HEALTH_CHECK,
                                     [health] * calls, seconds)[0])
        samples, responses = _timed(server, cpu["inclusion"], server.address, INCLUSION,
                                    inclusion_requests(ORIGIN, inclusion), seconds)
        runs["inclusion"].append(samples)
        for raw in responses[:10]:
            r = pb.GetInclusionProofResponse.FromString(raw)
            verify_inclusion(SHA256, r.index, r.tree_size, r.leaf_hash, list(r.proof), root)
        runs["consistency"].append(_timed(
            server, cpu["consistency"], server.address, CONSISTENCY,
            consistency_requests(ORIGIN, consistency), seconds)[0])
    return runs, cpu


def at_rest(
    background: Callable[[], float], limit: float = REST_LIMIT_S,
    window: float = QUIET_WINDOW_S, sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Wait until RocksDB's background threads in a server (``background``: the CPU seconds
    they have used so far), which run the flushes and compactions that a build and the
    restarts after it leave behind, have used less than ``QUIET_CPU_SHARE`` of one CPU over
    the last ``window`` seconds, or ``limit`` seconds have passed. Returns how long it
    waited, the background CPU seconds used meanwhile and since the server started, and
    whether it went quiet."""
    started = clock()
    first = last = background()
    quiet = False
    while not quiet and clock() - started < limit:
        sleep(window)
        now = background()
        quiet = now - last < QUIET_CPU_SHARE * window
        last = now
    return {
        "waited_s": round(clock() - started, 1),
        "background_cpu_s": round(last - first, 2),
        "background_cpu_since_start_s": round(last, 2),
        "quiet": quiet,
    }


def _ratios(runs: dict[str, list[list[float]]],
            cpu: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    out = {name: latency_summary(samples) for name, samples in runs.items()}
    for name, per_call in cpu.items():
        out[name]["cpu_us_per_call"] = summary(per_call["all"], "µs", 1)
        out[name]["serving_cpu_us_per_call"] = summary(per_call["serving"], "µs", 1)
        out[name]["background_cpu_us_per_call"] = summary(per_call["background"], "µs", 1)
        out[name]["disk_read_bytes_per_call"] = summary(per_call["disk"], "B", 1)
    empty_p50 = out["empty"]["p50"]["median"]
    health_p50 = out["health"]["p50"]["median"]
    for kind in ("inclusion", "consistency"):
        p50 = out[kind]["p50"]["median"]
        # The ratio of medians, and the spread of per-run ratios (run i's proof p50 over run
        # i's empty p50), so that drift in machine load shows up as spread, not as a bias.
        per_run = [
            percentile(p, 0.5) / percentile(e, 0.5)
            for p, e in zip(runs[kind], runs["empty"], strict=True)
        ]
        out[kind]["ratio_to_empty_p50"] = round(p50 / empty_p50, 3)
        out[kind]["ratio_to_empty_p50_runs"] = summary(per_run, "×", 3)
        out[kind]["ratio_to_health_p50"] = round(p50 / health_p50, 3)
        out[kind]["cpu_ratio_to_empty"] = round(
            statistics.median(cpu[kind]["all"]) / statistics.median(cpu["empty"]["all"]), 3)
        out[kind]["serving_cpu_ratio_to_empty"] = round(
            statistics.median(cpu[kind]["serving"])
            / statistics.median(cpu["empty"]["serving"]), 3)
    return out


def _over_grpc(
    server: procs.Process, empty: procs.Process, data: Path, size: int, plan: Plan,
    rng: random.Random, root: bytes,
) -> dict[str, Any]:
    """One run right after the restart (``after_restart``: what a log still compacting gives),
    then a wait until the log is at rest (``rest``), then ``plan.runs`` runs with the log's
    files held in the page cache (``page_cache``): the figures."""
    with procs.pinned(server, empty):
        first_runs, first_cpu = _latency_runs(server, empty, size, plan, rng, root, 1)
    rest = at_rest(server.background_cpu_seconds)
    with resident.held(data) as page_cache, procs.pinned(server, empty):
        runs, cpu = _latency_runs(server, empty, size, plan, rng, root, plan.runs)
    out = _ratios(runs, cpu)
    out["after_restart"] = _ratios(first_runs, first_cpu)
    out["rest"] = rest
    out["page_cache"] = page_cache
    return out


def _byte_compiled() -> None:
    """Byte-compile our packages, as pip does when it installs the wheel. The editable
    checkout run here has no ``__pycache__`` when ``PYTHONDONTWRITEBYTECODE`` is set (as in the
    shell of the 2026-11-30 runs), and every start then compiled ~200 modules from source
    (0.3-0.5 s), which no installed server does."""
    for package in ("tree", "storage", "server", "witness", "client", "common", "proto"):
        compileall.compile_dir(procs.REPO / package, quiet=1)


def _restarts(config: Path, count: int) -> tuple[procs.Process, list[float]]:
    _byte_compiled()
    times = []
    server = procs.start_log_server(config)
    times.append(server.ready_s)
    for _ in range(count - 1):
        server.stop()
        server = procs.start_log_server(config)
        times.append(server.ready_s)
    return server, times


def run(plan: Plan, scratch: Path, empty: procs.Process, log: Log) -> dict[str, Any]:
    config = procs.write_config(scratch / "scale", (SPEC,))
    data = config.parent / "data" / "db"
    rng = random.Random(6962)
    out: dict[str, Any] = {"origin": ORIGIN, "build_batch": plan.build_batch, "sizes": []}
    server, times = _restarts(config, plan.restarts)
    out["restart_empty_log_s"] = summary(times, "s", 3)
    roots: dict[int, bytes] = {}
    size = 0
    try:
        for target in plan.sizes:
            log(f"scale: building {size:,} -> {target:,} entries over AppendStream")
            load_before = machine.load()
            seconds, cpu = build_with_cpu(server, size, target, plan.build_batch)
            stage: dict[str, Any] = {
                "size": target,
                "build": {
                    "entries": target - size,
                    "seconds": round(seconds, 2),
                    "rate": round((target - size) / seconds),
                    "load_before": load_before,
                    "server_cpu_us_per_entry": {kind: round(us, 2) for kind, us in cpu.items()},
                },
                "build_peak_rss_mib": machine.peak_rss_mib(server.pid),
            }
            size = target
            server.stop()
            on_disk = machine.disk_bytes(data)
            stage["disk"] = {"bytes": on_disk, "bytes_per_entry": round(on_disk / size, 1)}
            log(f"scale: {size:,}: in-process open and proofs")
            stage["in_process"], root = _in_process(data, size, plan, rng, roots)
            roots[size] = root
            log(f"scale: {size:,}: restarts")
            server, times = _restarts(config, plan.restarts)
            stage["restart_s"] = summary(times, "s", 3)
            stage["rss_after_restart_mib"] = machine.rss_mib(server.pid)
            log(f"scale: {size:,}: proofs over gRPC")
            stage["grpc"] = _over_grpc(server, empty, data, size, plan, rng, root)
            stage["rss_after_proofs_mib"] = machine.rss_mib(server.pid)
            stage["load_after"] = machine.load()
            out["sizes"].append(stage)
    finally:
        server.stop()
    return out
