"""Operating it on day one: ``auditlog up`` refuses a directory in use and names a busy address
before touching anything; logs are valid JSON (UTC times) or readable console lines; a reader
that stops reading (``| head``) is not an error; Ctrl-C output stays one message a line."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.client.up import other_ports
from auditlog_tlog.common.logs import resolve_format, setup
from auditlog_tlog.tree.keys import Ed25519Signer
from tests.client.up import AUDITLOG, UP_ARGS, Up, env, start_up
from tests.servers import write_server_config

UTC_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def _snapshot(directory: Path) -> dict[str, bytes]:
    """The configs and keys (what a second ``up`` would have rewritten)."""
    names = ("server.toml", "client.toml", ".lock", "keys/log.key", "witness/witness.toml",
             "witness/witness.key")
    return {name: (directory / name).read_bytes() for name in names}


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One ``auditlog up`` for the tests that only use it (each its own entries); it must stop
    cleanly, with neither a traceback nor an error in the server's output."""
    running = start_up(tmp_path_factory.mktemp("up"))
    try:
        yield running
    finally:
        assert running.stop() == 0
    server_lines = "".join(running.output)
    assert "Traceback" not in server_lines and " error " not in server_lines.lower()


def test_a_second_up_on_the_same_directory_is_refused_untouched(up: Up) -> None:
    before = _snapshot(up.directory / "var")
    args = ["up", "--port", "0", "--metrics-listen", "", "--witness-port", "0"]
    done = subprocess.run([*AUDITLOG, *args], cwd=up.directory, text=True, capture_output=True,
                          timeout=60, env=env())
    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert "is in use by another 'auditlog up' (pid" in line and "--dir" in line
    assert str(up.process.pid) in line
    assert _snapshot(up.directory / "var") == before  # server.toml, witness.toml untouched
    assert "var/.lock" not in done.stdout
    assert up.process.poll() is None  # the first one still runs


def test_up_names_a_busy_address_and_the_flag_to_change_it(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["up", "--port", "0", "--metrics-listen", "", "--witness-port", str(port)]
        done = subprocess.run([*AUDITLOG, *args], cwd=tmp_path, text=True, capture_output=True,
                              timeout=60, env=env())
    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert f"cannot listen on 127.0.0.1:{port}: in use by another program" in line
    assert "--witness-port" in line and 'make run ARGS="' in line
    assert not (tmp_path / "var" / "witness").exists()  # refused before touching anything


def test_the_suggested_ports_never_include_the_busy_one() -> None:
    # make run ARGS="--port 7610 ..." (the README's own example) with 7610 taken suggested 7610.
    assert other_ports(7600) == ("--port 7610 --metrics-port 7611 --http-port 7612 "
                                 "--witness-port 7710")
    for busy in (7610, 7611, 7612, 7710, 7620, 7720):
        suggested = {int(word) for word in other_ports(busy).split() if word.isdigit()}
        assert busy not in suggested and len(suggested) == 4


def test_make_run_passes_args_and_up_takes_ports() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "auditlog up $(ARGS)" in makefile
    assert "--port" in UP_ARGS or "--listen" in UP_ARGS


def test_server_logs_are_json_lines_with_utc_times(tmp_path: Path) -> None:
    config = write_server_config(tmp_path)  # a new log: its key is created (a log line too)
    proc = subprocess.Popen([*AUDITLOG, "--log-format", "json", "serve", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env())
    assert proc.stdout is not None
    lines = []
    address = ""
    for line in proc.stdout:
        lines.append(line)
        if m := re.search(r"serving gRPC on (127\.0\.0\.1:\d+)", line):
            address = m.group(1)
        if "auditlog: log " in line:
            break
    with LogClient(address) as client:  # answered: the server is past its start-up
        assert client.list_logs()
    proc.terminate()
    rest, _ = proc.communicate(timeout=30)
    lines += rest.splitlines(keepends=True)
    assert proc.returncode == 0, "".join(lines)
    records = [json.loads(line) for line in lines if line.strip()]  # every line is JSON
    assert any(r["event"].startswith("auditlog: serving gRPC on") for r in records)
    assert any("draining appends" in r["event"] for r in records)
    for r in records:
        assert UTC_ISO.match(r["timestamp"]), r
        assert r["level"] in ("debug", "info", "warning", "error", "critical")


def test_setup_renders_json_and_console() -> None:
    out = io.StringIO()
    assert setup(logging.INFO, "json", out) == "json"
    logging.getLogger("auditlog.test").info("hello %s", "world")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("auditlog.test").exception("failed")
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[0]["event"] == "hello world" and records[0]["logger"] == "auditlog.test"
    assert "RuntimeError: boom" in records[1]["exception"]
    datetime.fromisoformat(records[0]["timestamp"].replace("Z", "+00:00"))
    out = io.StringIO()
    setup(logging.INFO, "console", out)
    logging.getLogger("auditlog.test").warning("readable %d", 1)
    text = out.getvalue()
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\S+Z warning +readable 1\s*$", text), text
    setup(logging.WARNING, "console")
    with pytest.raises(ValueError, match="want one of console, json"):
        resolve_format("xml")


def test_a_reader_that_stops_reading_is_not_an_error(up: Up) -> None:
    """The server's side (a clean stop, no error in its output) is checked as ``up`` stops."""
    up.run("append", "--lines", "--no-receipt",
           stdin="".join(f"stream {i} " + "x" * 200 + "\n" for i in range(5000)))
    for _ in range(3):
        with subprocess.Popen([*AUDITLOG, "entries"], cwd=up.directory, env=env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) as pipe:
            assert pipe.stdout is not None and pipe.stderr is not None
            pipe.stdout.readline()
            pipe.stdout.close()  # like '| head -1'
            err = pipe.stderr.read().decode()
            assert pipe.wait(60) == 0, err
        assert err == "", err


def test_stopping_up_keeps_one_message_a_line(tmp_path: Path) -> None:
    up = start_up(tmp_path)
    assert up.stop() == 0
    text = "".join(up.output)
    assert "draining appendsauditlog" not in text
    for line in text.splitlines():
        assert line.count("auditlog") <= 2 or "auditlog is up" in line, line


def test_a_witness_on_a_busy_port_names_the_address(tmp_path: Path) -> None:
    vkey = Ed25519Signer.generate("busy.example/log").vkey()
    config = tmp_path / "witness.toml"
    config.write_text(f'[witness]\nname = "busy.example/w"\n\n[[log]]\norigin = "busy.example/log"\n'
                      f'vkey = "{vkey}"\n')
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        done = subprocess.run([*AUDITLOG, "witness", "--config", str(config), "--listen", address],
                              cwd=tmp_path, text=True, capture_output=True, timeout=60, env=env())
    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert f"cannot listen on {address}: in use by another program" in line, done.stderr


def test_up_in_json_writes_only_json_lines(tmp_path: Path) -> None:
    args = [*AUDITLOG, "--log-format", "json", *UP_ARGS]
    with subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env()) as up:
        assert up.stdout is not None
        lines = []
        for line in up.stdout:
            lines.append(line)
            if "auditlog is up" in line:
                break
        up.terminate()
        lines += up.stdout.readlines()
        assert up.wait(60) == 0, "".join(lines)
    events = [json.loads(line)["event"] for line in lines]  # every line is JSON
    assert any(e.startswith("auditlog witness: ready") for e in events)
    assert any(e.startswith("auditlog is up: log localhost/audit") for e in events)
    assert any("draining appends" in e for e in events)


def test_a_process_that_fails_in_json_says_so_in_json(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    done = subprocess.run([*AUDITLOG, "--log-format", "json", "up", "--port", "99999"],
                          cwd=tmp_path, text=True, capture_output=True, timeout=60, env=env())
    assert done.returncode == 1
    record = json.loads(done.stderr.strip().splitlines()[-1])
    assert record["level"] == "error" and "port 99999: want 0..65535" in record["event"]


def test_receipt_dir_receipts_are_cosigned_and_verify_as_written(up: Up) -> None:
    done = up.run("append", "--lines", "--receipt-dir", "rd", stdin="rd one\nrd two\nrd one\n")
    assert "3 lines, 2 new entries, 1 already in the log" in done.stderr
    receipts = sorted((up.directory / "rd").glob("*.tlog-proof"))
    assert len(receipts) == 2
    for receipt in receipts:
        out = up.run("verify", str(receipt)).stdout
        assert "OK: entry" in out and "cosigned by localhost/witness (1 of 1" in out
