"""Search at scale (docs/search.md): a log of ``plan.search_size`` audit events from 1,000
actors drawn Zipf-like (weight 1/rank), sequenced over 24 hours, built in this process through
``LogStore`` with the index hooked in as the server hooks it (building 10^7 entries over gRPC
would take most of the run). Then:

1. in process, p50/p99 of ``Searcher.search`` for the 100 newest results of one actor with
   their inclusion proofs, for the most frequent actor, the 100th and the 1000th (rarest); a
   page of a one-hour time range (no filter) and of one actor within that hour; the request id
   of the middle entry (the lists of half the log's batches read);
2. over gRPC (``auditlog serve`` on the built data), the same searches beside the empty unary
   call of the same run, interleaved, with ratios;
3. index bytes per entry: the live SST bytes of the ``X`` key range over the entries;
4. append throughput with the index on and off, interleaved runs, and the ratio: in process
   (``LogStore.prepare`` + ``commit``, synced, batches of 1,000 audit events), and over gRPC
   (AppendBatch of 1,000 audit events, 4 in flight, to two servers, one with
   ``search_index = false``).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import grpc
import orjson

from auditlog_tlog.common.clock import Clock
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.config import LogConfig
from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.server.search import Filter, Query, Searcher, open_index
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.checkpoint import Checkpoint
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import sign_note
from bench import load, procs
from bench.empty_server import UNARY
from bench.plan import Plan
from bench.stats import latency_summary, summary
from bench.workload import APPEND_BATCH

ORIGIN: Final = "bench.example/search"
ACTORS: Final = 1000
BATCH: Final = 1000
DAY_NS: Final = 86_400 * 10**9
HOUR_NS: Final = 3600 * 10**9
START_NS: Final = 1_790_000_000 * 10**9
SEARCH: Final = "/auditlog.v1.Log/Search"
Log = Callable[[str], None]


class _BatchClock:
    """The sequencing time of each batch: set by the builder, read by the index."""

    def __init__(self) -> None:
        self.ns = START_NS

    def now(self) -> float:
        return self.ns / 1e9

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError("the bench clock does not sleep")


def _events(rng: random.Random, first: int, count: int, cum: list[float]) -> list[bytes]:
    """``count`` canonical audit events (client/event.py's encoding) from Zipf-drawn actors."""
    actors = rng.choices(range(ACTORS), cum_weights=cum, k=count)
    return [orjson.dumps({
        "action": ("repo.push", "repo.delete", "user.login", "pr.merge")[i % 4],
        "actor": f"user{a:04d}", "attributes": {}, "outcome": "failure" if i % 17 == 0 else "success",
        "request_id": f"req-{i}", "resource": f"acme/repo{i % 97}", "source": "git",
        "time": "2026-11-01T00:00:00.000000Z", "v": 1,
    }, option=orjson.OPT_SORT_KEYS) for i, a in zip(range(first, first + count), actors,
                                                     strict=True)]


def _zipf() -> list[float]:
    return list(itertools.accumulate(1 / rank for rank in range(1, ACTORS + 1)))


def _open(path: Path, clock: Clock, index: bool, key: Path) -> tuple[Database, LogStore,
                                                                       LogRuntime]:
    config = LogConfig(origin=ORIGIN, key_file=key, search_index=index)
    db = Database(path)
    store = LogStore(db, ORIGIN, SHA256)
    return db, store, LogRuntime(config, "", store, index=open_index(db, store, config, clock))


def build(directory: Path, size: int, log: Log) -> tuple[Path, Ed25519Signer, float]:
    """The searched log under ``directory/data/db``, signed at its size; entries/s of the build."""
    signer = Ed25519Signer.generate(ORIGIN)
    key = directory / "search.key"
    key.write_text(signer.skey() + "\n")
    key.chmod(0o600)
    clock = _BatchClock()
    db, store, _ = _open(directory / "data" / "db", clock, True, key)
    rng, cum = random.Random(15), _zipf()
    step = DAY_NS // max(1, size // BATCH)
    started = time.perf_counter()
    try:
        for first in range(0, size, BATCH):
            store.commit(store.prepare(_events(rng, first, min(BATCH, size - first), cum), False))
            clock.ns += step
            if first % 1_000_000 == 0 and first:
                log(f"search: built {first:,} entries")
        head = Checkpoint(ORIGIN, store.size, store.root)
        store.commit_checkpoint(store.size, sign_note(head.to_text(), [signer]))
    finally:
        db.close()
    return key, signer, size / (time.perf_counter() - started)


def _queries(size: int) -> dict[str, Query]:
    hour = START_NS + DAY_NS // 2
    return {
        "actor_top": Query((Filter("actor", "user0000"),)),
        "actor_100th": Query((Filter("actor", "user0099"),)),
        "actor_rarest": Query((Filter("actor", f"user{ACTORS - 1:04d}"),)),
        "hour_page": Query(since_ns=hour, until_ns=hour + HOUR_NS - 1),
        "actor_in_hour": Query((Filter("actor", "user0001"),), since_ns=hour,
                               until_ns=hour + HOUR_NS - 1),
        # One list of request ids per batch: the id of the middle entry is found by reading
        # the lists of every batch after it (storage/batchlists.py).
        "request_id_middle": Query((Filter("request_id", f"req-{size // 2}"),)),
    }


def _request(query: Query) -> bytes:
    from auditlog_tlog.common.searchfields import rfc3339_ns
    return pb.SearchRequest(
        log=ORIGIN, filters=[pb.SearchFilter(field=f.field, pattern=f.value) for f in query.filters],
        since="" if query.since_ns is None else rfc3339_ns(query.since_ns),
        until="" if query.until_ns is None else rfc3339_ns(query.until_ns), limit=100,
    ).SerializeToString()


def in_process(data: Path, key: Path, plan: Plan) -> dict[str, Any]:
    db, _, runtime = _open(data, _BatchClock(), True, key)
    try:
        assert runtime.index is not None
        searcher = Searcher(runtime, runtime.index)
        out: dict[str, Any] = {}
        for name, query in _queries(plan.search_size).items():
            runs, results = [], 0
            for _ in range(plan.runs):
                samples = []
                for _ in range(plan.search_calls):
                    started = time.perf_counter()
                    page = searcher.search(query)
                    samples.append(time.perf_counter() - started)
                runs.append(samples)
                results = len(page.hits)
            out[name] = {**latency_summary(runs), "results": results}
        return out
    finally:
        db.close()


def over_grpc(directory: Path, key: Path, empty: procs.Process, plan: Plan) -> dict[str, Any]:
    spec = procs.LogSpec(ORIGIN, extra=f'key_file = "{key}"\n')
    server = procs.start_log_server(procs.write_config(directory, (spec,)))
    out: dict[str, Any] = {}
    try:
        with grpc.insecure_channel(server.address) as log_channel, \
                grpc.insecure_channel(empty.address) as empty_channel:
            search = log_channel.unary_unary(SEARCH)
            unary = empty_channel.unary_unary(UNARY)
            for name, query in _queries(plan.search_size).items():
                payload = _request(query)
                if name in ("actor_in_hour", "request_id_middle"):
                    continue  # in process only
                search_runs, empty_runs = [], []
                for _ in range(plan.runs):
                    searched, emptied = [], []
                    for _ in range(plan.search_calls):
                        started = time.perf_counter()
                        unary(b"", timeout=30)
                        emptied.append(time.perf_counter() - started)
                        started = time.perf_counter()
                        raw = search(payload, timeout=30)
                        searched.append(time.perf_counter() - started)
                    search_runs.append(searched)
                    empty_runs.append(emptied)
                results = len(pb.SearchResponse.FromString(raw).results)
                searched_s, empty_s = latency_summary(search_runs), latency_summary(empty_runs)
                out[name] = {"search": searched_s, "empty_unary": empty_s, "results": results,
                             "p50_ratio": round(searched_s["p50"]["median"]
                                                / empty_s["p50"]["median"], 2)}
    finally:
        server.stop()
    return out


def index_bytes(entries: list[bytes]) -> dict[str, Any]:
    """Key and value bytes the index writes per entry (before RocksDB's prefix compression and
    LZ4), beside the entry bytes themselves, on a sample of the bench's events; and the CPU
    time ``LogIndex.rows`` takes per entry to compute them (the best of 3 passes)."""
    from auditlog_tlog.storage.index import LogIndex
    from auditlog_tlog.storage.layout import LogKeys

    class _NoDB:
        def scan_back(self, begin: bytes, end: bytes) -> list[tuple[bytes, bytes]]:
            return []

    index = LogIndex(_NoDB(), LogKeys(b"L\x00\x00\x00\x01"), (),  # type: ignore[arg-type]
                     lambda: START_NS)
    batches = [[(first + i, e, b"") for i, e in enumerate(entries[first:first + BATCH])]
               for first in range(0, len(entries), BATCH)]
    cpu = []
    for _ in range(3):
        started = time.process_time()
        rows = [row for batch in batches for row in index.rows(batch)]
        cpu.append(time.process_time() - started)
    written = sum(len(k) + len(v) for k, v in rows)
    return {"index_bytes_per_entry": round(written / len(entries), 1),
            "entry_bytes_per_entry": round(sum(map(len, entries)) / len(entries), 1),
            "keys_per_entry": round(len(rows) / len(entries), 2),
            "rows_cpu_us_per_entry": round(min(cpu) / len(entries) * 1e6, 2)}


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def append_rates(directory: Path, plan: Plan) -> dict[str, Any]:
    """Entries/s of synced batches of audit events with the index on and off (interleaved)."""
    rng, cum = random.Random(18), _zipf()
    entries = _events(rng, 0, plan.search_append_entries, cum)
    rates: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}  # the appending thread's, µs/entry
    disk: dict[bool, int] = {}
    for run in range(plan.runs):
        for on in (run % 2 == 0, run % 2 != 0):
            path = directory / f"append-{run}-{on}"
            db, store, _ = _open(path / "db", _BatchClock(), on, path / "key")
            try:
                started, thread_started = time.perf_counter(), time.thread_time()
                for first in range(0, len(entries), BATCH):
                    store.commit(store.prepare(entries[first:first + BATCH], True))
                rates[on].append(len(entries) / (time.perf_counter() - started))
                cpu[on].append((time.thread_time() - thread_started) / len(entries) * 1e6)
            finally:
                db.close()
            disk[on] = _du(path / "db")
    on_rate, off_rate = (statistics.median(rates[v]) for v in (True, False))
    on_cpu, off_cpu = (statistics.median(cpu[v]) for v in (True, False))
    return {"index_on": summary(rates[True], "entries/s", 0),
            "index_off": summary(rates[False], "entries/s", 0),
            "on_off_ratio": round(on_rate / off_rate, 3),
            # CPU of the appending thread (prepare, index rows, RocksDB's write; not the fsync
            # wait nor RocksDB's background threads): what a loaded machine does not distort.
            "cpu_us_per_entry_on": summary(cpu[True], "µs", 2),
            "cpu_us_per_entry_off": summary(cpu[False], "µs", 2),
            "cpu_off_on_ratio": round(off_cpu / on_cpu, 3),
            "entries_per_run": len(entries), "batch": BATCH,
            "disk_bytes_per_entry_on": round(disk[True] / len(entries), 1),
            "disk_bytes_per_entry_off": round(disk[False] / len(entries), 1),
            **index_bytes(entries[:20_000])}


def grpc_append_rates(directory: Path, plan: Plan) -> dict[str, Any]:
    """AppendBatch entries/s (1,000 audit events a request, 4 in flight) to two servers, one
    log with the index and one without, interleaved runs: what the index costs an appender."""
    specs = {on: procs.LogSpec(f"bench.example/append-{'on' if on else 'off'}", dedup=False,
                               extra="" if on else "search_index = false\n")
             for on in (True, False)}
    servers = {on: procs.start_log_server(procs.write_config(directory / f"grpc-{on}",
                                                             (spec,)))
               for on, spec in specs.items()}
    rng, cum = random.Random(19), _zipf()
    rates: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}  # the server process's, µs/entry
    try:
        for run in range(plan.runs):
            entries = _events(rng, run * plan.search_append_entries, plan.search_append_entries,
                              cum)
            for on in (run % 2 == 0, run % 2 != 0):
                payloads = [pb.AppendBatchRequest(log=specs[on].origin,
                                                  entries=entries[i:i + BATCH]).SerializeToString()
                            for i in range(0, len(entries), BATCH)]
                cpu_before = servers[on].cpu_seconds()
                result = asyncio.run(load.unary_load(servers[on].address, APPEND_BATCH, payloads,
                                                     4, plan.seconds * 10))
                rates[on].append(result.calls * BATCH / result.seconds)
                cpu[on].append((servers[on].cpu_seconds() - cpu_before)
                               / (result.calls * BATCH) * 1e6)
    finally:
        for server in servers.values():
            server.stop()
    on_rate, off_rate = (statistics.median(rates[v]) for v in (True, False))
    on_cpu, off_cpu = (statistics.median(cpu[v]) for v in (True, False))
    return {"index_on": summary(rates[True], "entries/s", 0),
            "index_off": summary(rates[False], "entries/s", 0),
            "on_off_ratio": round(on_rate / off_rate, 3), "batch": BATCH,
            "server_cpu_us_per_entry_on": summary(cpu[True], "µs", 2),
            "server_cpu_us_per_entry_off": summary(cpu[False], "µs", 2),
            "cpu_off_on_ratio": round(off_cpu / on_cpu, 3)}


def run(plan: Plan, scratch: Path, empty: procs.Process, log: Log) -> dict[str, Any]:
    directory = scratch / "search"
    directory.mkdir(parents=True, exist_ok=True)
    log(f"search: building {plan.search_size:,} audit events with the index, in process")
    key, _, build_rate = build(directory, plan.search_size, log)
    data = directory / "data" / "db"
    out: dict[str, Any] = {"size": plan.search_size, "actors": ACTORS,
                           "build_entries_per_s": round(build_rate)}
    log("search: 100 newest results with proofs, in process")
    out["in_process"] = in_process(data, key, plan)
    log("search: the same over gRPC, beside the empty unary call")
    out["grpc"] = over_grpc(directory, key, empty, plan)
    log("search: append throughput with the index on and off")
    out["append"] = append_rates(directory, plan)
    log("search: AppendBatch throughput over gRPC with the index on and off")
    out["append_batch_grpc"] = grpc_append_rates(directory, plan)
    return out
