"""bench/ingest_syslog.py runs end to end on a tiny size and prints a well-formed JSON report
(this checks the script, not the speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_syslog_bench_reports_every_rate() -> None:
    done = subprocess.run(
        [sys.executable, "bench/ingest_syslog.py", "--messages", "2000"],
        cwd=ROOT, capture_output=True, text=True, timeout=110, check=True,
    )
    report = json.loads(done.stdout)
    assert report["messages"] == 2000
    for name in ("grpc_append_batch_per_s", "syslog_tls_per_s", "relp_per_s",
                 "syslog_tls_vs_grpc", "relp_vs_grpc"):
        assert report[name] > 0, name
    for name in ("grpc_append_batch", "syslog_tls", "relp"):  # the server's CPU per 1,000
        assert 0 <= report[f"{name}_cpu_ms_per_1000"] < 10_000, name
