"""The scale section measures proofs over gRPC on a log at rest (bench/scale.py, ``at_rest``),
and splits a server's CPU into its serving threads' and RocksDB's background threads'
(bench/procs.py, ``Process.thread_cpu_seconds``).

``at_rest`` runs on a scripted CPU counter and a fake clock that moves only when it sleeps;
the thread split on a real log server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from bench import procs, scale


class ScriptedCounter:
    """Background CPU seconds that grow by ``steps[i]`` in the i-th window, then stay."""

    def __init__(self, steps: list[float]) -> None:
        self.steps = steps
        self.t = 0.0
        self.used = 0.0
        self.windows = 0

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        if self.windows < len(self.steps):
            self.used += self.steps[self.windows]
        self.windows += 1

    def background(self) -> float:
        return self.used


def _rest(counter: ScriptedCounter, limit: float = 120.0) -> dict[str, object]:
    return scale.at_rest(counter.background, limit=limit, window=2.0,
                         sleep=counter.sleep, clock=counter.clock)


def test_waits_until_the_background_threads_stop() -> None:
    # Compactions use most of a CPU for three windows, then a trickle below 2 % of one.
    counter = ScriptedCounter([1.9, 1.8, 1.2, 0.03])
    rest = _rest(counter)
    assert rest == {"waited_s": 8.0, "background_cpu_s": 4.93,
                    "background_cpu_since_start_s": 4.93, "quiet": True}


def test_a_quiet_log_waits_one_window() -> None:
    rest = _rest(ScriptedCounter([]))
    assert rest["waited_s"] == 2.0 and rest["quiet"] is True
    assert rest["background_cpu_s"] == 0.0


def test_gives_up_at_the_limit_and_says_so() -> None:
    counter = ScriptedCounter([1.0] * 100)
    rest = _rest(counter, limit=10.0)
    assert rest["quiet"] is False
    assert rest["waited_s"] == 10.0
    assert rest["background_cpu_s"] == 5.0


def test_counts_background_cpu_used_before_the_wait() -> None:
    counter = ScriptedCounter([0.0])
    counter.used = 3.5  # a compaction ran during the run right after the restart
    rest = _rest(counter)
    assert rest["background_cpu_s"] == 0.0
    assert rest["background_cpu_since_start_s"] == 3.5


def test_a_log_server_has_rocksdb_threads_apart_from_its_serving_threads(
    tmp_path: Path,
) -> None:
    config = procs.write_config(tmp_path, (scale.SPEC,))
    server = procs.start_log_server(config)
    try:
        asyncio.run(scale.build(server.address, 0, 1000, 500))
        kinds = server.thread_cpu_seconds()
        task = Path(f"/proc/{server.pid}/task")
        names = {(task / tid / "comm").read_text().strip() for tid in os.listdir(task)}
        whole = server.cpu_seconds()
    finally:
        server.stop()
    # RocksDB names its pool threads; the split depends on it.
    assert any(name.startswith("rocksdb:") for name in names), names
    assert kinds["serving"] > 0
    assert kinds["serving"] + kinds["background"] <= whole + 0.05
