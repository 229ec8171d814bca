"""``make bench`` / ``make bench-quick``: run every benchmark, write the JSON report and plots,
print the table.

    python bench/run.py [--quick | --profile full|quick|tiny] [--out bench-results]
                        [--only baseline,appends,scale,peer,witness,publication,restore,ingest,
                        search] [--no-plots]
    python bench/run.py --markdown bench-results/latest-full.json   # tables for BENCHMARKS.md

Servers run as subprocesses on ephemeral ports of 127.0.0.1 and are stopped by PID; their data
lives in a scratch directory that is removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    appends,
    baseline,
    gil,
    ingest,
    machine,
    peer,
    plot,
    procs,
    publication,
    report,
    restore,
    scale,
    search,
    witness,
)
from bench.plan import PLANS, Plan

SECTIONS = ("baseline", "appends", "scale", "peer", "witness", "publication", "restore", "ingest",
            "search")


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(plan: Plan, scratch: Path, only: tuple[str, ...]) -> dict[str, Any]:
    started = time.perf_counter()
    out: dict[str, Any] = {
        "meta": {
            "plan": plan.as_dict(),
            "machine": machine.describe(),
            "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "load_start": machine.load(),
            "section_seconds": {},
            "section_load": {},
        },
    }
    empty = procs.start_empty_server()
    try:
        if "baseline" in only or "appends" in only:
            _log("baseline: empty gRPC calls, hashing, synced WriteBatch")
            t = time.perf_counter()
            log_server = procs.start_log_server(
                procs.write_config(scratch / "health", (procs.LogSpec("bench.example/health"),)))
            try:
                out["baseline"] = {
                    "empty": baseline.empty_calls(empty, plan),
                    "health": baseline.health_calls(log_server, plan),
                }
            finally:
                log_server.stop()
            out["baseline"]["hashing"] = baseline.hashing(plan)
            out["baseline"]["rocksdb"] = baseline.synced_writes(plan, scratch)
            out["baseline"]["gil"] = gil.run(plan, scratch)
            _done(out, "baseline", t)
        if "appends" in only:
            t = time.perf_counter()
            out["appends"] = appends.run(plan, scratch, empty, _log)
            _done(out, "appends", t)
        if "scale" in only:
            t = time.perf_counter()
            out["scale"] = scale.run(plan, scratch, empty, _log)
            _done(out, "scale", t)
        if "search" in only:
            t = time.perf_counter()
            out["search"] = search.run(plan, scratch, empty, _log)
            _done(out, "search", t)
    finally:
        empty.stop()
    if "peer" in only:
        t = time.perf_counter()
        out["peer"] = peer.run(plan, scratch, _log)
        _done(out, "peer", t)
    if "witness" in only:
        t = time.perf_counter()
        _log("witness: add-checkpoint requests/s, append to co-signed checkpoint")
        out["witness"] = witness.run(plan, scratch)
        _done(out, "witness", t)
    if "publication" in only:
        t = time.perf_counter()
        out["publication"] = publication.run(plan.publication_entries, plan.publication_rate,
                                             plan.section_runs, scratch, _log)
        _done(out, "publication", t)
    if "restore" in only:
        t = time.perf_counter()
        out["restore"] = restore.run(plan.restore_entries, plan.section_runs, scratch, _log)
        _done(out, "restore", t)
    if "ingest" in only:
        t = time.perf_counter()
        out["ingest"] = ingest.run(plan.ingest_records, plan.syslog_messages, plan.section_runs,
                                   _log)
        _done(out, "ingest", t)
    out["targets"] = report.targets(out)
    out["meta"]["load_end"] = machine.load()
    out["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    return out


def _done(out: dict[str, Any], section: str, started: float) -> None:
    out["meta"]["section_seconds"][section] = round(time.perf_counter() - started, 1)
    out["meta"]["section_load"][section] = machine.load()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the quick profile (minutes)")
    parser.add_argument("--profile", choices=sorted(PLANS), default=None)
    parser.add_argument("--out", type=Path, default=Path("bench-results"),
                        help="where the JSON report and the plots go")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scratch data directory")
    parser.add_argument("--markdown", type=Path, metavar="REPORT.json",
                        help="print the tables of an existing report as Markdown and stop")
    args = parser.parse_args(argv)
    if args.markdown:
        print(report.table(json.loads(args.markdown.read_text()), markdown=True))
        return 0
    name = args.profile or ("quick" if args.quick else "full")
    only = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown sections {sorted(unknown)}, want some of {SECTIONS}")
    scratch = Path(tempfile.mkdtemp(prefix="auditlog-bench-"))
    try:
        result = measure(PLANS[name], scratch, only)
    finally:
        if args.keep:
            _log(f"scratch data kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    path = report.write(result, args.out)
    if not args.no_plots:
        for png in plot.plot(result, args.out):
            _log(f"plot: {png}")
    print(report.table(result))
    _log(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
