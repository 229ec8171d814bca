"""Syslog ingestion rates, durable, beside gRPC AppendBatch measured in the same run (JSON).

    python bench/ingest_syslog.py [--messages 200000] [--out result.json] [--workers N]

One ``auditlog serve`` on 127.0.0.1 with a ``tls`` and a ``relp`` listener. Each figure is
messages (or entries) per second from the first byte sent until the last one is durable:
for TLS, until the log's size has grown by all of them (TLS has no acknowledgement); for RELP,
until the last ``200 OK`` (a window of 1,024 unanswered messages, as librelp's default 128 is
for a single client far from the server); for AppendBatch, batches of 1,000 256-byte entries
from one client. Messages are ~200-byte RFC 5424 lines, each distinct.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.proto import auditlog_pb2_grpc as pb_grpc
from tests.server.certs import CA

LOG = "bench.example/syslog"
OFFERS = b"relp_version=0\nrelp_software=bench\ncommands=syslog"


def start(directory: Path, workers: int | None = None) -> tuple[subprocess.Popen[str], dict[str, str]]:
    ca = CA()
    (directory / "ca.pem").write_bytes(ca.pem)
    ca.issue("localhost", server=True).write(directory, "server")
    ingest = "" if workers is None else f"[ingest]\nworkers = {workers}"
    (directory / "server.toml").write_text(f"""
[server]
listen = "127.0.0.1:0"
metrics_listen = ""
data_dir = "data"
max_request_bytes = 67108864
[[log]]
origin = "{LOG}"
max_batch_entries = 10000
max_pending_entries = 1000000
checkpoint_interval_ms = 1000
{ingest}
[[ingest.syslog]]
listen = "127.0.0.1:0"
transport = "tls"
log = "{LOG}"
[ingest.syslog.tls]
cert_file = "server.pem"
key_file = "server.key"
[[ingest.syslog]]
listen = "127.0.0.1:0"
transport = "relp"
log = "{LOG}"
""")
    process = subprocess.Popen(
        [sys.executable, "-m", "auditlog_tlog.client.cli", "serve", "--config", "server.toml"],
        cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    found: dict[str, str] = {}
    for line in process.stdout:
        if m := re.search(r"auditlog: (serving gRPC|syslog-tls|relp) on (\S+)", line):
            found[m[1]] = m[2]
        if "auditlog: log " in line:  # after the structured log's time and level
            break
    threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
    return process, found


def _drain(stream: Any) -> None:
    """Read the server's output to its end (so the pipe never fills), then close it."""
    with stream:
        for _ in stream:
            pass


def lines(tag: str, count: int) -> list[bytes]:
    return [b"<110>1 2026-11-30T01:02:03.456789Z host.example app 4242 ID7 "
            b'[audit@1 actor="alice" action="read" resource="doc/%d"] %s message %09d padding '
            b"to about two hundred bytes xxxxxxxxxxxxxxxxxxxxxxxx" % (i, tag.encode(), i)
            for i in range(count)]


def size(stub: pb_grpc.LogStub) -> int:
    return int(stub.GetLogInfo(pb.GetLogInfoRequest(log=LOG)).size)


def wait_size(stub: pb_grpc.LogStub, want: int) -> None:
    while size(stub) < want:
        time.sleep(0.005)


def grpc_batches(stub: pb_grpc.LogStub, count: int) -> float:
    start_size = size(stub)
    began = time.perf_counter()
    for begin in range(0, count, 1000):
        stub.AppendBatch(pb.AppendBatchRequest(
            log=LOG, entries=[b"%08d" % i + b"e" * 248 for i in range(begin, begin + 1000)]))
    wait_size(stub, start_size + count)
    return count / (time.perf_counter() - began)


def tls(address: str, directory: Path, stub: pb_grpc.LogStub, count: int) -> float:
    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context(cafile=directory / "ca.pem")
    data = b"".join(b"%d %s" % (len(m), m) for m in lines("tls", count))
    start_size = size(stub)
    with context.wrap_socket(socket.create_connection((host, int(port))),
                             server_hostname="localhost") as conn:
        began = time.perf_counter()
        conn.sendall(data)
        wait_size(stub, start_size + count)
    return count / (time.perf_counter() - began)


def relp(address: str, count: int, window: int = 1024) -> float:
    host, port = address.rsplit(":", 1)
    frames = [b"%d syslog %d %s\n" % (i + 2, len(m), m) for i, m in enumerate(lines("relp", count))]
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(b"1 open %d %s\n" % (len(OFFERS), OFFERS))
        conn.recv(4096)
        began = time.perf_counter()
        acked = sent = 0
        buffer = b""
        while acked < count:
            if sent < count and sent - acked < window:
                batch = frames[sent:min(count, acked + window)]
                conn.sendall(b"".join(batch))
                sent += len(batch)
            buffer += conn.recv(1 << 20)
            done = buffer.count(b" 200 OK\n")
            if b" 500 " in buffer:
                raise RuntimeError(f"RELP error: {buffer[-300:]!r}")
            acked += done
            buffer = buffer[buffer.rfind(b"\n") + 1:]
        return count / (time.perf_counter() - began)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far, every thread (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(messages: int, workers: int | None = None) -> dict[str, Any]:
    """One server (``workers``: its ``[ingest] workers``, None for its default): AppendBatch,
    syslog over TLS and RELP rates, the ratios, and CPU per 1,000 of the server process and
    of its conversion workers."""
    from bench.ingest import children_cpu_seconds

    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        process, found = start(directory, workers)
        channel = grpc.insecure_channel(found["serving gRPC"])
        try:
            stub = pb_grpc.LogStub(channel)
            result: dict[str, Any] = {"messages": messages}
            phases: list[tuple[str, Callable[[], float]]] = [
                ("grpc_append_batch", lambda: grpc_batches(stub, messages)),
                ("syslog_tls", lambda: tls(found["syslog-tls"], directory, stub, messages)),
                ("relp", lambda: relp(found["relp"], messages)),
            ]
            for name, run in phases:
                cpu, helped = cpu_seconds(process.pid), children_cpu_seconds(process.pid)
                result[f"{name}_per_s"] = run()
                result[f"{name}_cpu_ms_per_1000"] = (cpu_seconds(process.pid) - cpu) * 1e6 / messages
                result[f"{name}_workers_cpu_ms_per_1000"] = (
                    children_cpu_seconds(process.pid) - helped) * 1e6 / messages
        finally:
            channel.close()
            os.kill(process.pid, signal.SIGTERM)
            process.wait(30)
    for key in ("syslog_tls_per_s", "relp_per_s"):
        result[key.replace("_per_s", "_vs_grpc")] = result[key] / result["grpc_append_batch_per_s"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--workers", type=int, default=None,
                        help="[ingest] workers of the server (default: the server's)")
    args = parser.parse_args()
    text = json.dumps(measure(args.messages, args.workers), indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
