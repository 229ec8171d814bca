"""The processes a benchmark talks to, each on an ephemeral port of 127.0.0.1, stopped by PID.

:func:`start_log_server` runs ``auditlog serve`` (the console script's module) on a config it
writes; :func:`start_empty_server` runs :mod:`bench.empty_server`. Both wait for the line that
names the address, keep draining the output in a thread so the pipe never fills, and record
how long the process took from spawn to serving (the restart time at a given log size).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_ADDRESS = re.compile(r"serving gRPC on (127\.0\.0\.1:\d+)")
_METRICS = re.compile(r"metrics on (http://127\.0\.0\.1:\d+/metrics)")


@dataclass(frozen=True, slots=True)
class LogSpec:
    """One [[log]] of a benchmark server."""

    origin: str
    hash: str = "sha256"
    dedup: bool = True
    max_batch_entries: int = 10_000
    max_pending_entries: int = 1_000_000
    checkpoint_interval_ms: float = 0.0
    extra: str = ""  # more TOML for this [[log]] (keys, then its sub-tables)

    def toml(self) -> str:
        return (
            f'[[log]]\norigin = "{self.origin}"\nhash = "{self.hash}"\n'
            f"dedup = {'true' if self.dedup else 'false'}\n"
            f"max_batch_entries = {self.max_batch_entries}\n"
            f"max_pending_entries = {self.max_pending_entries}\n"
            f"checkpoint_interval_ms = {self.checkpoint_interval_ms}\n"
            + self.extra
        )


def write_config(directory: Path, logs: tuple[LogSpec, ...]) -> Path:
    """A server config in ``directory``: loopback, ephemeral ports, data under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    text = (
        '[server]\nlisten = "127.0.0.1:0"\nmetrics_listen = "127.0.0.1:0"\n'
        'data_dir = "data"\nmax_request_bytes = 67108864\n\n'
        + "\n".join(log.toml() for log in logs)
    )
    path = directory / "server.toml"
    path.write_text(text)
    return path


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds used so far by the live threads of process ``pid``, summed by kind:
    ``background`` for RocksDB's own threads (named ``rocksdb:low``, ``rocksdb:high``, ...:
    flushes and compactions), ``serving`` for every other thread (Python's, gRPC's).
    A thread that has exited is counted in neither (``Process.cpu_seconds`` keeps it)."""
    found = {"serving": 0.0, "background": 0.0}
    tick = os.sysconf("SC_CLK_TCK")
    task = Path(f"/proc/{pid}/task")
    for tid in os.listdir(task):
        try:
            comm = (task / tid / "comm").read_text()
            fields = (task / tid / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread exited between the listing and the read
        kind = "background" if comm.startswith("rocksdb:") else "serving"
        found[kind] += (int(fields[11]) + int(fields[12])) / tick
    return found


@dataclass
class Process:
    """A running server subprocess; ``ready_s`` is the time from spawn to serving."""

    popen: subprocess.Popen[str]
    address: str
    ready_s: float
    output: list[str] = field(default_factory=list)
    _pump: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def metrics_url(self) -> str | None:
        for line in self.output:
            if m := _METRICS.search(line):
                return m.group(1)
        return None

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used so far (/proc/PID/stat)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def thread_cpu_seconds(self) -> dict[str, float]:
        return thread_cpu_seconds(self.pid)

    def background_cpu_seconds(self) -> float:
        """CPU seconds used so far by RocksDB's background threads (:meth:`thread_cpu_seconds`)."""
        return self.thread_cpu_seconds()["background"]

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (graceful drain), wait; SIGKILL if it does not exit in time."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.popen.pid, signal.SIGKILL)
            code = self.popen.wait(10)
        if self._pump is not None:
            self._pump.join(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        return code


def start(
    argv: list[str], cwd: Path, ready_marker: str, address: str = _ADDRESS.pattern,
    timeout: float = 120, pythonpath: Path = REPO,
) -> Process:
    """Run ``argv`` and wait for a line matching ``address`` and then one with ``ready_marker``
    (with the code of ``pythonpath``: another checkout for a paired run)."""
    pattern = re.compile(address)
    started = time.perf_counter()
    popen = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(pythonpath)},
    )
    assert popen.stdout is not None
    output: list[str] = []
    found = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = popen.stdout.readline()
        if not line:
            break
        output.append(line)
        if m := pattern.search(line):
            found = m.group(1) if m.groups() else m.group(0)
        if found and ready_marker in line:
            break
    ready_s = time.perf_counter() - started
    if not found:
        popen.kill()
        popen.wait(10)
        raise RuntimeError(f"{' '.join(argv[1:4])} did not start:\n" + "".join(output))
    process = Process(popen, found, ready_s, output)

    def pump() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            output.append(line)

    process._pump = threading.Thread(target=pump, daemon=True)
    process._pump.start()
    return process


def start_log_server(config: Path, timeout: float = 120) -> Process:
    """Run ``auditlog serve --config config``.

    The server opens every log before it listens and prints one ``auditlog: log`` line per
    log after it serves, so the first such line marks the end of the restart.
    """
    argv = [sys.executable, "-m", "auditlog_tlog.client.cli", "serve", "--config", str(config)]
    return start(argv, config.parent, "auditlog: log ", timeout=timeout)


def start_empty_server(timeout: float = 60) -> Process:
    argv = [sys.executable, "-m", "bench.empty_server"]
    return start(argv, REPO, "serving gRPC", timeout=timeout)


def sequencer_batches(process: Process, origin: str) -> tuple[float, float]:
    """(batches written, entries written) by a log's sequencer so far, from /metrics."""
    url = process.metrics_url()
    if url is None:
        return 0.0, 0.0
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    found = {"count": 0.0, "sum": 0.0}
    for line in text.splitlines():
        for kind in found:
            if line.startswith(f'auditlog_batch_entries_{kind}{{log="{origin}"}}'):
                found[kind] = float(line.rsplit(" ", 1)[1])
    return found["count"], found["sum"]


def _set_affinity(pid: int, cpus: set[int]) -> None:
    """Set the CPU affinity of every thread of a process (threads inherit it from then on)."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.sched_setaffinity(int(tid), cpus)
    except FileNotFoundError:
        pass


@contextlib.contextmanager
def pinned(*servers: Process) -> Iterator[None]:
    """Latency runs: this process on CPU 0, the servers on CPU 1, all CPUs again afterwards.

    With one blocking caller, each call wakes the server and then the client; left to the
    scheduler, the two bounce between cores and idle states and the p50 of the same call
    moves by 2x between runs. Pinning them apart makes the baseline and the call measured
    against it comparable. A machine with fewer than 2 CPUs is left as it is.
    """
    every = os.sched_getaffinity(0)
    if len(every) < 2:
        yield
        return
    first, second = sorted(every)[:2]
    _set_affinity(os.getpid(), {first})
    for server in servers:
        _set_affinity(server.pid, {second})
    try:
        yield
    finally:
        _set_affinity(os.getpid(), every)
        for server in servers:
            _set_affinity(server.pid, every)
