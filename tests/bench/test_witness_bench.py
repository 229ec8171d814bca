"""bench/witness.py's figures: the latencies of append -> cosigned are in milliseconds, and the
JSON says so on every inner figure (bench/stats.py ``latency_summary``)."""

from __future__ import annotations

from bench.stats import latency_summary


def test_latency_summaries_carry_the_unit_they_are_scaled_to() -> None:
    samples = [[0.0103, 0.0101, 0.0120]]  # seconds
    in_ms = latency_summary(samples, 1e3, "ms")
    assert in_ms["p50"]["median"] == 10.3
    assert in_ms["p50"]["unit"] == in_ms["p99"]["unit"] == "ms"
    in_us = latency_summary(samples)
    assert in_us["p50"]["median"] == 10300.0
    assert in_us["p99"]["unit"] == "µs"
