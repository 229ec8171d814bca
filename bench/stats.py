"""Summaries of repeated measurements: median with min and max, and latency percentiles."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def summary(values: Sequence[float], unit: str, digits: int = 3) -> dict[str, Any]:
    """Median, min and max of the runs of one figure (and the runs themselves)."""
    if not values:
        raise ValueError("summary of no runs, want at least 1")
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "runs": [round(v, digits) for v in values],
        "unit": unit,
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by the nearest-rank method on a copy of ``values``."""
    if not values:
        raise ValueError("percentile of no values, want at least 1")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_summary(runs: Sequence[Sequence[float]], unit_scale: float = 1e6,
                    unit: str = "µs") -> dict[str, Any]:
    """p50 and p99 of each run of latency samples (seconds), summarised across runs, in
    ``unit`` (``unit_scale`` of them a second: 1e6 µs, 1e3 ms)."""
    p50 = [percentile(r, 0.50) * unit_scale for r in runs]
    p99 = [percentile(r, 0.99) * unit_scale for r in runs]
    return {
        "p50": summary(p50, unit, 1),
        "p99": summary(p99, unit, 1),
        "samples_per_run": min(len(r) for r in runs),
    }


def timed_loop(fn: Callable[[], object], seconds: float, max_calls: int) -> list[float]:
    """Call ``fn`` until ``seconds`` have passed or ``max_calls`` were made; the durations."""
    samples: list[float] = []
    clock = time.perf_counter
    deadline = clock() + seconds
    while len(samples) < max_calls:
        started = clock()
        fn()
        ended = clock()
        samples.append(ended - started)
        if ended > deadline:
            break
    return samples


def ratio(numerator: float, denominator: float, digits: int = 3) -> float | None:
    return round(numerator / denominator, digits) if denominator else None
