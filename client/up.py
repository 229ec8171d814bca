"""``auditlog up``: the one-machine deployment ``make run`` starts.

Everything lives in one directory (``--dir``, default ``var``)::

    var/server.toml            the log server's config       (written at every start from the flags)
    var/keys/log.key           the log's signing key         (created on first start, mode 0600)
    var/data/                  the log's RocksDB
    var/witness/witness.toml   the witness's config          (written at every start)
    var/witness/witness.key    the witness's cosigning key   (created on first start, mode 0600)
    var/witness/state/         what the witness last cosigned
    var/witness/archive/       every cosigned checkpoint, write-once files (mode 0444)
    var/client.toml            what the client commands use: address, keys, quorum, archive
    var/client-state/          the client's last verified checkpoint

Before it touches anything it takes a lock on ``var/.lock`` (a second ``up`` on the same
directory is refused, naming the process that holds it) and checks that every address it is to
listen on is free (a busy one is named, with the flag that changes it). It runs ``auditlog
witness`` and ``auditlog serve`` as child processes. The log pushes each new
checkpoint to the witness (c2sp.org/tlog-witness ``add-checkpoint``, with the consistency proof
from the witness's last size); the witness checks it, archives the cosigned checkpoint, and
answers with its cosignature, which the log attaches. Clients require 1 of 1 witness
cosignatures. Ctrl-C (or SIGTERM) stops both; if either dies, the other is stopped too and ``up``
exits non-zero.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Final

from auditlog_tlog.client.config import Settings, format_settings
from auditlog_tlog.common.files import write_atomic

ORIGIN: Final = "localhost/audit"
WITNESS: Final = "localhost/witness"
_GRPC: Final = re.compile(r"serving gRPC on ([^\s\"]+:\d+)")
_HTTP: Final = re.compile(r"serving tlog-witness on (http://[^\s\"]+)")
_TILES: Final = re.compile(r"tiles on (http://[^\s\"/]+)/")
AUDITLOG: Final = [sys.executable, "-m", "auditlog_tlog.client.cli"]
LOCK: Final = ".lock"
log = logging.getLogger("auditlog.up")
_OUT = threading.Lock()  # one whole line at a time on stdout, from the pumps and the main thread


def say(line: str) -> None:
    """Print one line whole (a pump thread may be printing a child's line at the same time)."""
    with _OUT:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def add_up(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, default=Path("var"), help="where everything lives (var)")
    p.add_argument("--origin", default=ORIGIN, help=f"the log's origin ({ORIGIN})")
    p.add_argument("--listen", default="127.0.0.1:7600", help="gRPC address (127.0.0.1:7600)")
    p.add_argument("--metrics-listen", default="127.0.0.1:7601",
                   help='Prometheus /metrics address, "" for none (127.0.0.1:7601)')
    p.add_argument("--http-listen", default="127.0.0.1:7602",
                   help='the console and tlog-tiles HTTP address, "" for none (127.0.0.1:7602)')
    p.add_argument("--witness-listen", default="127.0.0.1:7700",
                   help="the witness's tlog-witness HTTP address (127.0.0.1:7700)")
    p.add_argument("--no-witness", action="store_true", help="run the log alone")
    ports = p.add_argument_group("ports on 127.0.0.1 (shorthands for the addresses above)")
    ports.add_argument("--port", type=int, help="the log's gRPC port (7600)")
    ports.add_argument("--metrics-port", type=int, help="the log's /metrics port (7601)")
    ports.add_argument("--http-port", type=int, help="the console's HTTP port (7602)")
    ports.add_argument("--witness-port", type=int, help="the witness's port (7700)")


def _addresses(a: argparse.Namespace) -> list[tuple[str, str]]:
    """(address, how to change it) for every address ``up`` listens on; applies the port flags."""
    for port, name in ((a.port, "listen"), (a.metrics_port, "metrics_listen"),
                       (a.http_port, "http_listen"), (a.witness_port, "witness_listen")):
        if port is not None:
            if not 0 <= port <= 65535:
                raise ValueError(f"port {port}: want 0..65535")
            setattr(a, name, f"127.0.0.1:{port}")
    found = [(a.listen, "--port or --listen"),
             (a.metrics_listen, "--metrics-port or --metrics-listen"),
             (a.http_listen, "--http-port or --http-listen")]
    if not a.no_witness:
        found.append((a.witness_listen, "--witness-port or --witness-listen"))
    return [(addr, flag) for addr, flag in found if addr]


def check_free(addresses: list[tuple[str, str]]) -> None:
    """``OSError`` naming the first address another program listens on."""
    for address, flag in addresses:
        host, _, port = address.rpartition(":")
        host = host.strip("[]")
        if not port.isdigit() or int(port) == 0:
            continue
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, int(port)))
            except OSError as exc:
                why = "in use by another program" if exc.errno == errno.EADDRINUSE else exc.strerror
                raise OSError(
                    f"cannot listen on {address}: {why}. Stop that program, or choose other "
                    f"ports with {flag} (e.g. make run ARGS=\"{other_ports(int(port))}\")"
                ) from None


def other_ports(busy: int) -> str:
    """An example set of ``up`` port flags that does not use ``busy`` (7610... unless that is the
    busy one, then 7620..., and so on)."""
    base = 7610
    while busy in (base, base + 1, base + 2, base + 100):
        base += 10
    return (f"--port {base} --metrics-port {base + 1} --http-port {base + 2} "
            f"--witness-port {base + 100}")


def lock_dir(base: Path) -> IO[str]:
    """Hold an exclusive lock on ``base/.lock`` for as long as the returned file is open;
    ``OSError`` saying who holds it if another ``auditlog up`` does."""
    base.mkdir(parents=True, exist_ok=True)
    handle = (base / LOCK).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise OSError(
            f"{base} is in use by another 'auditlog up' (pid {holder}): stop it first, or give "
            "another --dir (nothing was changed)") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


@dataclass
class Child:
    name: str
    process: subprocess.Popen[str]
    lines: list[str]
    pump: threading.Thread | None = None

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self.pump is not None:
            self.pump.join(5)


def start(name: str, args: list[str], ready: str, cwd: Path, timeout: float = 60.0,
          log_format: str = "console") -> Child:
    """Run ``auditlog <args>``, echo its output (prefixed with ``[name]`` in the console format;
    JSON lines as they are), and wait until it prints a line containing ``ready``."""
    prefix = f"[{name}] " if log_format == "console" else ""
    process = subprocess.Popen([*AUDITLOG, "--log-format", log_format, *args],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=cwd, bufsize=1)
    child = Child(name, process, [])
    seen = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                child.lines.append(line)
                say(prefix + line.rstrip())
                if ready in line:
                    seen.set()
        seen.set()  # it ended: stop waiting

    child.pump = threading.Thread(target=pump, daemon=True, name=f"pump-{name}")
    child.pump.start()
    deadline = time.monotonic() + timeout
    while not seen.wait(0.1):
        if time.monotonic() > deadline:
            break
    if process.poll() is not None or not any(ready in line for line in child.lines):
        child.stop()
        last = child.lines[-1].strip() if child.lines else "no output"
        raise OSError(f"the {name} did not start: {last}; see its lines above")
    return child


def _found(child: Child, pattern: re.Pattern[str]) -> str:
    for line in child.lines:
        if m := pattern.search(line):
            return m.group(1)
    raise OSError(f"the {child.name} did not say where it listens")


def _server_toml(a: argparse.Namespace, witness_vkey: str | None, witness_url: str | None) -> str:
    text = (f'# Written by "auditlog up" at every start; edits are overwritten.\n[server]\n'
            f'listen = "{a.listen}"\nmetrics_listen = "{a.metrics_listen}"\n'
            f'http_listen = "{a.http_listen}"\ndata_dir = "data"\n\n'
            f'[[log]]\norigin = "{a.origin}"\nkey_file = "keys/log.key"\n')
    if witness_vkey is not None:
        text += f'witness_quorum = 1\n\n[[log.witness]]\nvkey = "{witness_vkey}"\nurl = "{witness_url}"\n'
    return text


def _witness_toml(origin: str, log_vkey: str, listen: str) -> str:
    return (f'# Written by "auditlog up" at every start; edits are overwritten.\n[witness]\n'
            f'name = "{WITNESS}"\nkey_file = "witness.key"\nlisten = "{listen}"\n'
            f'state_dir = "state"\n\n[archive]\ntype = "local"\ndir = "archive"\n\n'
            f'[[log]]\norigin = "{origin}"\nvkey = "{log_vkey}"\n')


def cmd_up(args: argparse.Namespace) -> int:
    base: Path = args.dir.resolve()
    addresses = _addresses(args)
    lock = lock_dir(base)
    try:
        check_free(addresses)
        return _up(args, base)
    finally:
        lock.close()


def _up(args: argparse.Namespace, base: Path) -> int:
    from auditlog_tlog.server.keys import load_or_create_key as log_key
    from auditlog_tlog.witness.keys import load_or_create_key as witness_key

    (base / "keys").mkdir(parents=True, exist_ok=True)
    signer, _ = log_key(base / "keys" / "log.key", args.origin)
    settings = Settings(log=args.origin, log_keys=(signer.vkey(),),
                        state_dir=Path("client-state"), quorum=0)
    children: list[Child] = []
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        witness_vkey = witness_url = None
        if not args.no_witness:
            directory = base / "witness"
            directory.mkdir(exist_ok=True)
            cosigner, _ = witness_key(directory / "witness.key", WITNESS)
            write_atomic(directory / "witness.toml",
                         _witness_toml(args.origin, signer.vkey(), args.witness_listen).encode())
            witness = start("witness", ["witness", "--config", "witness.toml"],
                            "auditlog witness: ready", directory, log_format=args.log_format)
            children.append(witness)
            witness_vkey, witness_url = cosigner.vkey(), _found(witness, _HTTP)
            settings = replace(settings, witness_keys=(witness_vkey,), quorum=1,
                               witness_urls=(witness_url,), archive_dir=Path("witness/archive"))
        write_atomic(base / "server.toml", _server_toml(args, witness_vkey, witness_url).encode())
        server = start("log", ["serve", "--config", "server.toml"], "auditlog: log ", base,
                       log_format=args.log_format)
        children.append(server)
        settings = replace(settings, server=_found(server, _GRPC))
        write_atomic(base / "client.toml", format_settings(settings).encode())
        _welcome(base, settings, children, args.log_format)
        while not stopping.wait(0.5):
            for child in children:
                if child.process.poll() is not None:
                    log.error("auditlog up: the %s exited with code %d; stopping", child.name,
                              child.process.returncode)
                    return 1
        log.info("auditlog up: stopping")
        return 0
    finally:
        for child in reversed(children):
            child.stop()


def _welcome(base: Path, s: Settings, children: list[Child], log_format: str) -> None:
    here = Path.cwd()
    rel = base.relative_to(here) if base.is_relative_to(here) else base
    witness = next((c for c in children if c.name == "witness"), None)
    server = next(c for c in children if c.name == "log")
    console = next((m.group(1) + "/console/" for line in server.lines
                    if (m := _TILES.search(line))), None)
    lines = [
        "",
        "auditlog is up.",
        f"  log        {s.log} on {s.server} (data in {rel}/data)",
        f"  log key    {s.log_keys[0]}",
    ]
    if witness is not None:
        lines += [
            f"  witness    {WITNESS} on {_found(witness, _HTTP)} (the log pushes to it)",
            f"  wit. key   {s.witness_keys[0]}",
            f"  archive    {rel}/witness/archive (write-once files)",
            f"  policy     {s.quorum} of {len(s.witness_keys)} witness cosignatures required",
        ]
    if console is not None:
        lines.append(f"  console    {console} (paste the log key under Keys to verify)")
    lines += [
        f"  client     {rel}/client.toml (the commands below read it from here)",
        "",
        "In another terminal, in this directory:",
        "  . .venv/bin/activate",
        "  auditlog append --actor alice --action repo.delete --resource acme/web "
        "--receipt first.tlog-proof",
        "  auditlog verify first.tlog-proof",
        "  auditlog checkpoint",
        "  auditlog prove --index 0",
        "  auditlog audit",
        "",
        "Ctrl-C stops everything; data, keys and the archive stay in " + str(rel) + ".",
    ]
    if log_format == "json":
        log.info("auditlog is up: log %s on %s, client config %s/client.toml", s.log, s.server, rel)
    else:
        say("\n".join(lines))
