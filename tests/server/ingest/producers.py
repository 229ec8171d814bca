"""Real syslog producers for the tests: rsyslogd and nginx from Debian, each with its own
configuration and working directory, started on 127.0.0.1 and stopped by PID; and a reader of
the log's entries over gRPC."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditlog_tlog.proto import auditlog_pb2 as pb
from tests.servers import RunningServer


def free_port() -> int:
    """A port that was free a moment ago (for producers that need a fixed port in their config)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_config(directory: Path, body: str) -> Path:
    """``directory/server.toml``: a log server on ephemeral loopback ports (gRPC and metrics),
    its data in ``directory/data``, and ``body`` (its logs and listeners)."""
    config = directory / "server.toml"
    config.write_text(f"""
[server]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
data_dir = "data"
{body}""")
    return config


def listener_port(server: RunningServer, name: str) -> int:
    """The port of the ``name`` listener (``syslog-tls``, ``relp``, ...) the server printed."""
    for line in server.output:  # a log line: "<time> info     auditlog: syslog-tls on host:port"
        said = f"auditlog: {name} on "
        if said in line:
            return int(line.rsplit(":", 1)[1])
    raise AssertionError(f"no {name} listener in the server's output:\n" + "".join(server.output))


def entries(server: RunningServer, log: str) -> list[dict[str, Any]]:
    """Every entry of ``log``, decoded from its JSON."""
    stub = server.stub()
    size = stub.GetLogInfo(pb.GetLogInfoRequest(log=log)).size
    found = []
    for page in stub.GetEntries(pb.GetEntriesRequest(log=log, begin=0, end=size)):
        found += [json.loads(e) for e in page.entries]
    return found


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


class Process:
    """A producer started by the test and stopped by its PID."""

    def __init__(self, argv: list[str], directory: Path) -> None:
        self.output = directory / "output.txt"
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            cwd=directory)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def log(self) -> str:
        return self.output.read_text(errors="replace")


class Rsyslog(Process):
    """rsyslogd in the foreground, reading datagrams from its own unix socket (imuxsock) and
    forwarding with ``action`` (an omfwd or omrelp action)."""

    def __init__(self, directory: Path, action: str, modules: str = "", tls: str = "") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "work").mkdir(exist_ok=True)
        self.socket = directory / "in.sock"
        config = directory / "rsyslog.conf"
        config.write_text(f"""
global(workDirectory="{directory / 'work'}" {tls})
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{self.socket}" RateLimit.Interval="0" CreatePath="on")
{modules}
*.* {action}
""")
        super().__init__(["rsyslogd", "-n", "-f", str(config), "-i", str(directory / "pid")],
                         directory)
        wait_for(self.socket.exists, 20, f"rsyslogd's socket {self.socket}\n{self.log()}")

    def send(self, messages: list[str]) -> None:
        """Hand rsyslogd ``messages`` (RFC 3164 lines, as the C library's syslog() writes)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            for message in messages:
                s.sendto(message.encode(), str(self.socket))


class Nginx(Process):
    """nginx in the foreground on 127.0.0.1:``port``, its access log going to syslog."""

    def __init__(self, directory: Path, port: int, syslog: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "nginx.conf"
        temp = " ".join(f"{name}_temp_path {directory / name};"
                        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        config.write_text(f"""
daemon off;
master_process off;
pid {directory / 'nginx.pid'};
error_log {directory / 'error.log'} info;
events {{ worker_connections 64; }}
http {{
    {temp}
    access_log syslog:{syslog};
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
""")
        super().__init__(["nginx", "-c", str(config), "-p", str(directory)], directory)
        self.port = port
        wait_for(self._up, 20, f"nginx on port {port}\n{self.log()}")

    def _up(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0
