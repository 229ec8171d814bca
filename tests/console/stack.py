"""A real log server with a real push witness on 127.0.0.1 holding a few records of each kind,
and the browser settings, for the console's tests and for tools/screenshots.py."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from auditlog_tlog.client.event import event_from_json
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.keys import load_or_create_key as log_key
from auditlog_tlog.witness.keys import load_or_create_key as witness_key
from tests.servers import AUDITLOG, RunningServer, running, write_server_config

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"]
ORIGIN = "console.example/log"
WITNESS = "console.example/witness"
_WITNESS_URL = re.compile(r"serving tlog-witness on (http://127\.0\.0\.1:\d+)")


@dataclass
class Stack:
    server: RunningServer
    log_vkey: str
    witness_vkey: str
    directory: Path

    @property
    def url(self) -> str:
        return self.server.tiles_url

    def get(self, path: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def api(self, path: str) -> Any:
        status, _, body = self.get(path)
        assert status == 200, (status, body)
        return json.loads(body)


def events() -> list[bytes]:
    """What the log holds: AuditEvents, an ingested OTLP record, text and bytes."""
    found = [event_from_json({"actor": actor, "action": action, "resource": "acme/web",
                              "outcome": "success", "time": f"2026-11-30T0{i}:00:00.000000Z",
                              "source": "git-server"}).encode()
             for i, (actor, action) in enumerate([("alice", "repo.delete"), ("bob", "login"),
                                                  ("alice", "repo.create"), ("carol", "login")])]
    otlp = {"fields": {"action": "payment.refund", "actor": "svc-payments", "outcome": "success",
                       "resource": "order/17", "time": "2026-11-30T04:00:00.000000000Z"},
            "record": {"body": {"stringValue": "refund issued"}, "severityText": "INFO"},
            "source": {"principal": None, "transport": "otlp-http"}, "v": 1}
    found.append(json.dumps(otlp, sort_keys=True, separators=(",", ":")).encode())
    return [*found, b"plain text entry", bytes([0, 1, 2, 0xff, *range(36)])]


def start_witness(directory: Path, log_vkey: str) -> tuple[subprocess.Popen[str], str,
                                                          threading.Thread]:
    (directory / "witness.toml").write_text(
        f'[witness]\nname = "{WITNESS}"\nkey_file = "witness.key"\nlisten = "127.0.0.1:0"\n'
        f'state_dir = "state"\n\n[archive]\ntype = "local"\ndir = "archive"\n\n'
        f'[[log]]\norigin = "{ORIGIN}"\nvkey = "{log_vkey}"\n')
    process = subprocess.Popen([*AUDITLOG, "witness", "--config", "witness.toml"], cwd=directory,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    output: list[str] = []
    url = ""
    for line in process.stdout:
        output.append(line)
        if m := _WITNESS_URL.search(line):
            url = m.group(1)
        if "auditlog witness: ready" in line:
            break
    if not url:
        process.kill()
        process.wait(10)
        raise RuntimeError("witness did not start:\n" + "".join(output))
    pump = threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True)
    pump.start()
    return process, url, pump


def wait_for(what: str, probe: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not probe():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def append(server: RunningServer, entries: list[bytes]) -> None:
    server.stub().AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=entries), timeout=10)


@contextlib.contextmanager
def console_stack(directory: Path) -> Iterator[Stack]:
    """A log with one push witness (quorum 1) holding ``events()``, appended in two batches so
    that it has several checkpoints; everything under ``directory``, stopped by PID."""
    signer, _ = log_key(directory / "keys" / "log.key", ORIGIN)
    cosigner, _ = witness_key(directory / "witness" / "witness.key", WITNESS)
    process, url, pump = start_witness(directory / "witness", signer.vkey())
    try:
        config = write_server_config(
            directory, (ORIGIN,), extra_log=(
                f'key_file = "keys/log.key"\nwitness_quorum = 1\n\n[[log.witness]]\n'
                f'vkey = "{cosigner.vkey()}"\nurl = "{url}"\n'))
        servers = running(config)
        server = next(servers)
        try:
            stack = Stack(server, signer.vkey(), cosigner.vkey(), directory)
            batch = events()
            append(server, batch[:3])
            wait_for("a checkpoint of 3",
                     lambda: stack.api("/api/v1/logs")["logs"][0]["checkpoint_size"] == 3)
            append(server, batch[3:])
            wait_for("a cosigned checkpoint of every entry", lambda: _cosigned(stack, len(batch)))
            yield stack
        finally:
            next(servers, None)  # stops it
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(20)
        pump.join(10)
        if process.stdout is not None:
            process.stdout.close()


def _cosigned(stack: Stack, size: int) -> bool:
    (log,) = stack.api("/api/v1/logs")["logs"]
    return bool(log["checkpoint_size"] == size and log["quorum_size"] == size)



def pin(page: Page, base: str, keys: list[str], quorum: int = 0) -> None:
    """Open the console and pin ``keys`` through its Keys page, as an auditor does."""
    page.goto(base + "/console/#/keys")
    page.fill("textarea[name=pins]", "\n".join(keys))
    page.fill("input[name=quorum]", str(quorum))
    page.click("#keys-form button[type=submit]")
    page.wait_for_selector("#keys-status.ok")


def go(page: Page, base: str, fragment: str) -> None:
    """Load ``/console/<fragment>`` and wait until the page has rendered it."""
    page.goto(base + "/console/" + fragment)
    ready = fragment.replace("\\", "\\\\").replace('"', '\\"')
    page.wait_for_selector(f'body[data-ready="{ready}"]', state="attached")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
