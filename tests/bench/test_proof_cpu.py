"""bench/proof_cpu.py builds its log once, then times the proof calls against the empty call.

This checks the benchmark, not the performance: the log is tiny and no ratio is asserted.
"""

from __future__ import annotations

from pathlib import Path

from bench import proof_cpu


def test_builds_once_then_reuses_the_log(tmp_path: Path) -> None:
    first = proof_cpu.measure(tmp_path, 300, 1, 10)
    assert (tmp_path / "server.toml").exists()
    for kind in ("empty", "inclusion", "consistency"):
        figures = first[kind]
        assert figures["p50_us"] > 0 and figures["cpu_us_per_call"] >= 0
        assert figures["disk_read_bytes_per_call"] >= 0
    assert first["empty"]["p50_ratio"] == 1.0
    config = (tmp_path / "server.toml").stat().st_mtime_ns
    second = proof_cpu.measure(tmp_path, 300, 1, 10)  # a log of 300 entries answers again
    assert (tmp_path / "server.toml").stat().st_mtime_ns == config
    assert second["size"] == 300 and second["inclusion"]["p50_us"] > 0
    assert second["rest"]["waited_s"] == [2.0]  # a log of 300 entries is at rest at once
