"""SIGKILL a witness process (``auditlog witness``, local archive, witness/journal.py) while a
log streams add-checkpoint requests at it: after each restart its state is never behind a
cosignature it answered, and every answered cosignature is in the archive."""

from __future__ import annotations

import hashlib
import http.client
import os
import random
import re
import signal
import subprocess
import threading
from pathlib import Path

from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.note import parse_note, parse_signature_lines
from auditlog_tlog.tree.witness_protocol import parse_size_body
from tests.servers import AUDITLOG
from tests.witness.helpers import TestLog

_LISTEN = re.compile(r"serving tlog-witness on http://127\.0\.0\.1:(\d+)")


def _start(config: Path) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([*AUDITLOG, "witness", "--config", str(config)], cwd=config.parent,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    port, output = 0, []
    for line in process.stdout:
        output.append(line)
        if m := _LISTEN.search(line):
            port = int(m.group(1))
        if "auditlog witness: ready" in line:
            break
    assert port and process.poll() is None, "".join(output)
    threading.Thread(target=_drain, args=(process,), daemon=True).start()
    return process, port


def _drain(process: subprocess.Popen[str]) -> None:
    """Keep the pipe drained until the process is gone, then close it."""
    assert process.stdout is not None
    with process.stdout:
        process.stdout.read()


def _stream(port: int, log: TestLog, acked: list[tuple[int, bytes]], stop: threading.Event,
            old: int) -> None:
    """Send growing checkpoints on one connection until the witness dies; record each 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    size = old
    try:
        while not stop.is_set():
            new = size + 1 + len(acked) % 3
            conn.request("POST", "/add-checkpoint", log.body(old, new))
            resp = conn.getresponse()
            data = resp.read()
            if resp.status == 409:
                old = size = parse_size_body(data)
                continue
            assert resp.status == 200, data
            acked.append((new, data))
            old = size = new
    except (OSError, http.client.HTTPException):
        pass  # killed
    finally:
        conn.close()


def test_sigkill_mid_stream_never_loses_an_answered_cosignature(tmp_path: Path) -> None:
    log = TestLog()
    config = tmp_path / "witness.toml"
    config.write_text(f'[witness]\nname = "witness.example/w1"\nlisten = "127.0.0.1:0"\n\n'
                      f'[[log]]\norigin = "{log.origin}"\nvkey = "{log.signer.vkey()}"\n')
    rng = random.Random(18)
    acked: list[tuple[int, bytes]] = []
    state_size = 0
    for round_ in range(3):
        process, port = _start(config)
        stop = threading.Event()
        before = len(acked)
        client = threading.Thread(target=_stream, args=(port, log, acked, stop, state_size))
        client.start()
        while len(acked) < before + rng.randint(3, 25) and client.is_alive():
            client.join(0.001)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        stop.set()
        client.join(10)
        assert len(acked) > before, f"round {round_}: nothing answered"
        process, port = _start(config)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", f"/{hashlib.sha256(log.origin.encode()).hexdigest()}/checkpoint")
            resp = conn.getresponse()
            latest = resp.read()
            conn.close()
            assert resp.status == 200
            state_size = parse_checkpoint(parse_note(latest).text).size
            assert state_size >= acked[-1][0]  # never behind an answer: no rollback
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(20)
        # (A kill between a temporary file's creation and its link leaves the temporary file,
        # a dot file that readers of the archive skip.)
        notes = [p.read_bytes() for p in (tmp_path / "archive").rglob("*")
                 if p.is_file() and not p.name.startswith(".")]
        sizes = [parse_checkpoint(parse_note(n).text).size for n in notes]
        assert max(sizes) == state_size  # nothing archived beyond the state
        for size, answer in acked:
            (line,) = parse_signature_lines(answer)
            assert any(line.line().encode() in n for n in notes), f"size {size} not archived"
