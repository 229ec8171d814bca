"""The peer: pymerkle (the Python reference implementation), on the same machine and workload.

At each of ``plan.peer_sizes``, with the same 256-byte entries:

- ``InmemoryTree``: ``append_entries`` (one ``append_entry`` per entry; not durable), then
  inclusion and consistency proofs against the full tree;
- ``SqliteTree``: ``append_entries``, its bulk path (one transaction: durable at the commit, as
  SQLite's default synchronous=FULL makes it), then the same proofs.

Proof timings are per call, random index / size1, after one cold call (reported apart: the
subroot cache starts empty). Every phase stops at ``plan.peer_seconds`` or ``plan.peer_proofs``
calls, whichever comes first, and says how many calls it made. The in-memory tree's root is
checked against ours, so the two compute the same RFC 6962 tree.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditlog_tlog.tree.compact import root_of
from auditlog_tlog.tree.hashing import SHA256
from bench.plan import Plan
from bench.stats import percentile, summary
from bench.workload import entry

Log = Callable[[str], None]


def _proofs(prove: Callable[[int], object], pick: Callable[[], int], plan: Plan) -> dict[str, Any]:
    """Time ``prove(pick())`` calls: one cold call, then up to the plan's count or time."""
    started = time.perf_counter()
    prove(pick())
    cold = time.perf_counter() - started
    runs: list[list[float]] = []
    deadline = time.perf_counter() + plan.peer_seconds
    per_run = max(1, plan.peer_proofs // plan.runs)
    timed_out = False
    for _ in range(plan.runs):
        samples = []
        for _ in range(per_run):
            argument = pick()
            started = time.perf_counter()
            prove(argument)
            samples.append(time.perf_counter() - started)
            if time.perf_counter() > deadline:
                timed_out = True
                break
        runs.append(samples)
        if timed_out:
            break
    return {
        "cold_ms": round(cold * 1e3, 3),
        "p50": summary([percentile(r, 0.5) * 1e6 for r in runs], "µs", 1),
        "p99": summary([percentile(r, 0.99) * 1e6 for r in runs], "µs", 1),
        "mean_us": round(statistics.fmean(s for r in runs for s in r) * 1e6, 1),
        "calls": sum(len(r) for r in runs),
        "stopped_by_time_bound": timed_out,
    }


def _measure(tree: Any, size: int, plan: Plan, rng: random.Random) -> dict[str, Any]:
    return {
        "inclusion": _proofs(
            lambda i: tree.prove_inclusion(i, size), lambda: rng.randrange(1, size + 1), plan),
        "consistency": _proofs(
            lambda s: tree.prove_consistency(s, size), lambda: rng.randrange(1, size), plan),
    }


def run(plan: Plan, scratch: Path, log: Log) -> dict[str, Any]:
    import pymerkle

    out: dict[str, Any] = {"package": "pymerkle", "version": pymerkle.__version__, "sizes": []}
    rng = random.Random(9162)
    for size in plan.peer_sizes:
        entries = [entry("peer", n) for n in range(size)]
        row: dict[str, Any] = {"size": size}

        log(f"peer: pymerkle InmemoryTree, {size:,} entries")
        memory = pymerkle.InmemoryTree(algorithm="sha256")
        started = time.perf_counter()
        memory.append_entries(entries)
        seconds = time.perf_counter() - started
        ours = root_of(SHA256, [SHA256.hash_leaf(e) for e in entries])
        row["inmemory"] = {
            "append": {"seconds": round(seconds, 2), "rate": round(size / seconds),
                       "durable": False},
            **_measure(memory, size, plan, rng),
            "root_matches_ours": memory.get_root(size) == ours,
        }
        del memory

        log(f"peer: pymerkle SqliteTree, {size:,} entries")
        with tempfile.TemporaryDirectory(dir=scratch) as directory:
            sqlite = pymerkle.SqliteTree(str(Path(directory) / "merkle.db"))
            try:
                started = time.perf_counter()
                sqlite.append_entries(entries)
                seconds = time.perf_counter() - started
                row["sqlite"] = {
                    "append": {"seconds": round(seconds, 2), "rate": round(size / seconds),
                               "durable": True},
                    **_measure(sqlite, size, plan, rng),
                }
            finally:
                sqlite.close()
        out["sizes"].append(row)
    return out
