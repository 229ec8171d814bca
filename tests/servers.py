"""Start and stop real processes for tests: the log server as ``auditlog serve`` on 127.0.0.1.

Every server listens on an ephemeral port of 127.0.0.1 and is stopped by its PID.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from auditlog_tlog.proto import auditlog_pb2_grpc as pb_grpc

AUDITLOG = [sys.executable, "-m", "auditlog_tlog.client.cli"]
_GRPC_LINE = re.compile(r"serving gRPC on (127\.0\.0\.1:\d+)")
_METRICS_LINE = re.compile(r"metrics on (http://127\.0\.0\.1:\d+/metrics)")
_TILES_LINE = re.compile(r"tiles on (http://127\.0\.0\.1:\d+)/")


def write_server_config(directory: Path, origins: tuple[str, ...] = ("test.example/log",),
                        extra_log: str = "", extra_server: str = "") -> Path:
    """A server config in ``directory`` with one [[log]] per origin and ephemeral ports."""
    logs = "".join(f'\n[[log]]\norigin = "{o}"\n{extra_log}\n' for o in origins)
    text = (
        '[server]\nlisten = "127.0.0.1:0"\nmetrics_listen = "127.0.0.1:0"\n'
        'http_listen = "127.0.0.1:0"\n'
        f'data_dir = "data"\n{extra_server}\n{logs}'
    )
    path = directory / "server.toml"
    path.write_text(text)
    return path


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    address: str
    metrics_url: str
    output: list[str]
    tiles_url: str = ""
    _channel: grpc.Channel | None = None
    _pump: threading.Thread | None = None

    def stub(self) -> pb_grpc.LogStub:
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.address)
        return pb_grpc.LogStub(self._channel)

    def close(self) -> None:
        """Release the channel and the output pipe once the process has exited."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._pump is not None:
            self._pump.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def kill(self) -> None:
        """SIGKILL: no chance to flush or drain anything."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.close()

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM and wait for a graceful exit; returns the exit code."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        code = self.process.wait(timeout)
        self.close()
        return code


def start_server(config: Path, timeout: float = 30) -> RunningServer:
    """Run ``auditlog serve --config config`` and wait until it says where it listens."""
    process = subprocess.Popen(
        [*AUDITLOG, "serve", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=config.parent,
    )
    assert process.stdout is not None
    output: list[str] = []
    address = metrics = tiles = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if m := _GRPC_LINE.search(line):
            address = m.group(1)
        if m := _METRICS_LINE.search(line):
            metrics = m.group(1)
        if m := _TILES_LINE.search(line):
            tiles = m.group(1)
        if "auditlog: log " in line and address:
            # All log lines follow the listen lines; give the rest a moment to arrive.
            break
    if not address:
        process.kill()
        process.wait(10)
        process.stdout.close()
        raise RuntimeError("server did not start:\n" + "".join(output))
    server = RunningServer(process, address, metrics, output, tiles_url=tiles)
    _drain(server)
    return server


def _drain(server: RunningServer) -> None:
    """Keep reading the server's output in the background so its pipe never fills."""

    def pump() -> None:
        assert server.process.stdout is not None
        for line in server.process.stdout:
            server.output.append(line)

    server._pump = threading.Thread(target=pump, daemon=True)
    server._pump.start()


def running(config: Path) -> Iterator[RunningServer]:
    """Generator for pytest fixtures: start, yield, stop (SIGKILL if it will not stop)."""
    server = start_server(config)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            try:
                server.stop()
            except subprocess.TimeoutExpired:
                server.kill()
