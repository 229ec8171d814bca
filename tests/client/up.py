"""Run ``auditlog up`` for tests: in a scratch directory, on ephemeral loopback ports, stopped by
PID. The directory gets a ``.venv`` link to the checkout's, so that README commands such as
``. .venv/bin/activate`` work there as they do in the checkout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AUDITLOG = [sys.executable, "-m", "auditlog_tlog.client.cli"]
UP_ARGS = ["up", "--listen", "127.0.0.1:0", "--metrics-listen", "", "--http-listen",
           "127.0.0.1:0", "--witness-listen", "127.0.0.1:0"]


@dataclass
class Up:
    directory: Path
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            code = self.process.wait(10)
        if self.pump is not None:
            self.pump.join(10)
        return code

    def run(self, *args: str, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """``auditlog <args>`` in the directory (so it reads var/client.toml)."""
        done = subprocess.run([*AUDITLOG, *args], cwd=self.directory, input=stdin, text=True,
                              capture_output=True, timeout=120, env=env())
        if check and done.returncode != 0:
            raise AssertionError(f"auditlog {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.pop("AUDITLOG_CONFIG", None)
    e["PYTHONPATH"] = str(ROOT)
    return e


def start_up(directory: Path, timeout: float = 60) -> Up:
    link = directory / ".venv"
    if not link.exists():
        link.symlink_to(ROOT / ".venv")
    process = subprocess.Popen([*AUDITLOG, *UP_ARGS], cwd=directory, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env())
    up = Up(directory, process)
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                up.output.append(line)
                if line.startswith("auditlog is up."):
                    ready.set()
        ready.set()

    up.pump = threading.Thread(target=pump, daemon=True)
    up.pump.start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.1) and time.monotonic() < deadline:
        pass
    if process.poll() is not None or not any(x.startswith("auditlog is up.") for x in up.output):
        up.stop()
        raise AssertionError("auditlog up did not start:\n" + "".join(up.output))
    return up
