"""bench/ingest.py runs end to end on a tiny size and prints a well-formed JSON report (this
checks the script, not the speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_ingest_bench_reports_every_rate() -> None:
    done = subprocess.run(
        [sys.executable, "bench/ingest.py", "--records", "1024", "--batch", "512", "--inflight", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=110, check=True,
    )
    report = json.loads(done.stdout)
    for name in ("append_batch", "otlp_grpc", "otlp_http"):
        assert report[name]["records"] == 1024 and report[name]["per_s"] > 0
        assert 0 <= report[name]["server_cpu_ms_per_1000"] < 10_000  # the server's CPU per 1,000
    assert report["otlp_grpc"]["ratio_to_append_batch"] > 0
    assert report["meta"]["batch"] == 512
