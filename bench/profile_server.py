"""Where the log server's time goes under one workload: py-spy on the server process.

    python -m bench.profile_server unary16|stream|proofs|build [--seconds 6] [--top 25] [--gil]
                                   [--entries 2000000]

Starts a log server (SHA-256, dedup on), drives it with one workload and samples it with
``py-spy record`` (samples of every thread that is running, idle ones left out). With
``--gil`` only samples of the thread that holds the GIL count, so the total is the server's
Python-side CPU; on some virtual machines py-spy cannot tell which thread holds it and
records nothing, hence the default without. py-spy pauses the server for each sample (its
``--nonblocking`` mode read no frames at all with py-spy 0.4.3 on Python 3.11 here: 0 samples),
which slows the workload but keeps each frame's share. Prints the share of time sampled, then
the top frames by self time and by inclusive time. The profile lines in BENCHMARKS.md come from
this script.

``build`` is the scale section's sustained build late in its course: the log is built to
``--entries`` first (not sampled), then sampled while one AppendStream goes on appending; it
also prints the server's CPU per entry over that stretch, in its serving threads and in
RocksDB's background threads (flushes, compactions).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import load, machine, procs, scale
from bench.workload import (
    APPEND,
    APPEND_STREAM,
    INCLUSION,
    EntrySource,
    append_requests,
    inclusion_requests,
    stream_messages,
)

RATE = 250  # samples per second
PROOF_SIZE = 1_000_000
BUILD_RATE = 40_000  # entries/s assumed when sizing the sampled stretch of ``build``
_NOISE = ("threading.py", "runpy", "client/cli.py", "asyncio/runners.py", "<module>")


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    return found


def _timed_build(server: procs.Process, start: int, end: int, what: str) -> str:
    """Build ``[start, end)`` over one AppendStream; its rate and the server's CPU per entry."""
    seconds, cpu = scale.build_with_cpu(server, start, end, 1000)
    return (f"{(end - start) / seconds:,.0f} entries/s over one AppendStream {what}; server CPU "
            f"per entry: {cpu['serving']:.1f} µs serving, {cpu['background']:.1f} µs in "
            "RocksDB's background threads")


def _workload(kind: str, server: procs.Process, seconds: float, built: int) -> str:
    origin = scale.ORIGIN
    if kind == "build":
        count = int(round(BUILD_RATE * seconds, -3))
        return (_timed_build(server, built, built + count, f"from {built:,} (sampled)")
                + f"; peak RSS {machine.peak_rss_mib(server.pid)} MiB")
    if kind == "unary16":
        payloads = append_requests(origin, EntrySource("profile"), 200_000)
        result = asyncio.run(load.unary_load(server.address, APPEND, payloads, 16, seconds))
        return f"{result.rate:,.0f} Append calls/s with 16 in flight"
    if kind == "stream":
        messages = stream_messages(origin, EntrySource("profile"), 3000, 1000)
        result = asyncio.run(load.bidi_load(server.address, APPEND_STREAM, messages, seconds))
        return f"{result.calls * 1000 / result.seconds:,.0f} entries/s over one AppendStream"
    size = PROOF_SIZE
    rng = random.Random(1)
    requests = inclusion_requests(origin, [(rng.randrange(size), size) for _ in range(100_000)])
    samples, _ = load.sync_latencies(server.address, INCLUSION, requests, seconds)
    samples.sort()
    return f"GetInclusionProof at {size:,}: p50 {samples[len(samples) // 2] * 1e6:.0f} µs"


def summarize(raw: Path, seconds: float, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [f for f in stack.split(";")[1:] if not any(x in f for x in _NOISE)]
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"sampled {100 * total / (RATE * seconds):.0f}% of the time ({total} samples)",
             "self time:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines.append("inclusive:")
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=("unary16", "stream", "proofs", "build"))
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--entries", type=int, default=2_000_000,
                        help="build: the log's size before sampling starts")
    parser.add_argument("--gil", action="store_true",
                        help="count only samples of the thread holding the GIL")
    args = parser.parse_args()
    spy = _py_spy()
    with tempfile.TemporaryDirectory(prefix="auditlog-profile-") as directory:
        config = procs.write_config(Path(directory), (scale.SPEC,))
        server = procs.start_log_server(config)
        try:
            raw = Path(directory) / "profile.txt"
            built = {"proofs": PROOF_SIZE, "build": args.entries}.get(args.workload, 0)
            if built:  # build the tree first, then profile the reads or the rest of the build
                print("built: " + _timed_build(server, 0, built, f"to {built:,}"))
            profiler = subprocess.Popen(
                [spy, "record", *(["--gil"] if args.gil else []), "--threads",
                 "-f", "raw", "-r", str(RATE), "-d", str(round(args.seconds)), "-p",
                 str(server.pid), "-o", str(raw)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            time.sleep(0.5)
            print(_workload(args.workload, server, args.seconds + 1, built))
            _, errors = profiler.communicate()
            if not raw.exists() or not raw.read_text().strip():
                raise SystemExit(f"py-spy wrote no samples: {errors.strip()[-500:]}")
            print(summarize(raw, round(args.seconds), args.top))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
