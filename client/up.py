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

It runs ``auditlog witness`` and ``auditlog serve`` as child processes. The log pushes each new
checkpoint to the witness (c2sp.org/tlog-witness ``add-checkpoint``, with the consistency proof
from the witness's last size); the witness checks it, archives the cosigned checkpoint, and
answers with its cosignature, which the log attaches. Clients require 1 of 1 witness
cosignatures. Ctrl-C (or SIGTERM) stops both; if either dies, the other is stopped too and ``up``
exits non-zero.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from auditlog_tlog.client.config import Settings, format_settings
from auditlog_tlog.common.files import write_atomic

ORIGIN: Final = "localhost/audit"
WITNESS: Final = "localhost/witness"
_GRPC: Final = re.compile(r"serving gRPC on (\S+:\d+)")
_HTTP: Final = re.compile(r"serving tlog-witness on (http://\S+)")
AUDITLOG: Final = [sys.executable, "-m", "auditlog_tlog.client.cli"]


def add_up(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, default=Path("var"), help="where everything lives (var)")
    p.add_argument("--origin", default=ORIGIN, help=f"the log's origin ({ORIGIN})")
    p.add_argument("--listen", default="127.0.0.1:7600", help="gRPC address (127.0.0.1:7600)")
    p.add_argument("--metrics-listen", default="127.0.0.1:7601",
                   help='Prometheus /metrics address, "" for none (127.0.0.1:7601)')
    p.add_argument("--witness-listen", default="127.0.0.1:7700",
                   help="the witness's tlog-witness HTTP address (127.0.0.1:7700)")
    p.add_argument("--no-witness", action="store_true", help="run the log alone")


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


def start(name: str, args: list[str], ready: str, cwd: Path, timeout: float = 60.0) -> Child:
    """Run ``auditlog <args>``, echo its output prefixed with ``[name]``, and wait until it
    prints a line containing ``ready``."""
    process = subprocess.Popen([*AUDITLOG, *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=cwd, bufsize=1)
    child = Child(name, process, [])
    seen = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                child.lines.append(line)
                print(f"[{name}] {line.rstrip()}", flush=True)
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
        hint = " (is the port in use? pass --listen or --witness-listen)" if "bind" in last else ""
        raise OSError(f"the {name} did not start: {last}{hint}; see the [{name}] lines above")
    return child


def _found(child: Child, pattern: re.Pattern[str]) -> str:
    for line in child.lines:
        if m := pattern.search(line):
            return m.group(1)
    raise OSError(f"the {child.name} did not say where it listens")


def _server_toml(a: argparse.Namespace, witness_vkey: str | None, witness_url: str | None) -> str:
    text = (f'# Written by "auditlog up" at every start; edits are overwritten.\n[server]\n'
            f'listen = "{a.listen}"\nmetrics_listen = "{a.metrics_listen}"\ndata_dir = "data"\n\n'
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
    from auditlog_tlog.server.keys import load_or_create_key as log_key
    from auditlog_tlog.witness.keys import load_or_create_key as witness_key

    base: Path = args.dir.resolve()
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
                            "auditlog witness: ready", directory)
            children.append(witness)
            witness_vkey, witness_url = cosigner.vkey(), _found(witness, _HTTP)
            settings = replace(settings, witness_keys=(witness_vkey,), quorum=1,
                               witness_urls=(witness_url,), archive_dir=Path("witness/archive"))
        write_atomic(base / "server.toml", _server_toml(args, witness_vkey, witness_url).encode())
        server = start("log", ["serve", "--config", "server.toml"], "auditlog: log ", base)
        children.append(server)
        settings = replace(settings, server=_found(server, _GRPC))
        write_atomic(base / "client.toml", format_settings(settings).encode())
        _welcome(base, settings, children)
        while not stopping.wait(0.5):
            for child in children:
                if child.process.poll() is not None:
                    print(f"auditlog up: the {child.name} exited with code "
                          f"{child.process.returncode}; stopping", file=sys.stderr, flush=True)
                    return 1
        print("auditlog up: stopping", flush=True)
        return 0
    finally:
        for child in reversed(children):
            child.stop()


def _welcome(base: Path, s: Settings, children: list[Child]) -> None:
    here = Path.cwd()
    rel = base.relative_to(here) if base.is_relative_to(here) else base
    witness = next((c for c in children if c.name == "witness"), None)
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
    print("\n".join(lines), flush=True)
