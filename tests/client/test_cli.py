"""The ``auditlog`` client subcommands, run in-process against a real server: output, --json,
exit codes, and errors as one line on stderr that says what to do."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from auditlog_tlog.client.cli import main
from auditlog_tlog.client.config import Settings, format_settings, load_settings
from auditlog_tlog.client.progress import PlainProgress, RichProgress, progress_for
from auditlog_tlog.client.state import CheckpointStore
from auditlog_tlog.tree.checkpoint import Checkpoint
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.note import sign_note
from auditlog_tlog.tree.tlogproof import TlogProof, format_tlog_proof, parse_tlog_proof
from tests.client.conftest import ORIGIN, log_signer
from tests.servers import RunningServer


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_append_then_verify_offline(cli: Any, tmp_path: Path) -> None:
    code, receipt, err = cli("append", "cli: hello")
    assert code == 0 and receipt.startswith("c2sp.org/tlog-proof@v1\nextra ")
    assert "appended entry" in err
    (tmp_path / "r.tlog-proof").write_text(receipt)
    code, out, _ = cli("verify", "r.tlog-proof")
    assert code == 0 and out.startswith("OK: entry") and "entry: cli: hello" in out
    code, out, _ = cli("verify", "r.tlog-proof", "--json")
    assert json.loads(out)["ok"] is True
    code, out, _ = cli("append", "cli: hello", "--json")
    assert json.loads(out)["duplicate"] is True


def test_a_tampered_receipt_fails_with_one_line(cli: Any, tmp_path: Path) -> None:
    code, receipt, _ = cli("append", "cli: tamper me", "--detached")
    p = parse_tlog_proof(receipt.encode())
    (tmp_path / "bad.tlog-proof").write_bytes(
        format_tlog_proof(TlogProof(p.index, p.proof, p.checkpoint, b"cli: tampered")))
    code, _, err = cli("verify", "bad.tlog-proof")
    line = one_line(err)
    assert code == 1 and "bad.tlog-proof does not match its checkpoint" in line
    assert "altered or corrupted" in line and "trust the right keys" not in line
    (tmp_path / "detached.tlog-proof").write_text(receipt)
    code, _, err = cli("verify", "detached.tlog-proof")
    assert code == 1 and "give --entry" in one_line(err)
    assert cli("verify", "detached.tlog-proof", "--entry", "cli: tamper me")[0] == 0


def test_append_many_events_from_stdin(cli: Any, tmp_path: Path) -> None:
    events = "".join(json.dumps({"actor": "svc", "action": "tick", "resource": f"r/{i}",
                                 "attributes": {"n": i}}) + "\n" for i in range(3))
    code, out, _ = cli("append", "--jsonl", "--receipt-dir", "receipts", "--json", stdin=events)
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(results) == 3
    assert all(Path(r["receipt_file"]).exists() for r in results)
    code, _, err = cli("append", "--jsonl", stdin='{"actor": "a"}\nnot json\n')
    assert code == 1 and "stdin line 1" in one_line(err)
    code, _, err = cli("append", "two", "--lines")
    assert code == 2 and "want exactly one of" in one_line(err)


def test_read_commands(cli: Any) -> None:
    cli("append", "cli: read me")
    code, out, _ = cli("checkpoint", "--json")
    head = json.loads(out)
    assert code == 0 and head["origin"] == ORIGIN and head["size"] >= 1
    code, out, _ = cli("checkpoint", "--note")
    assert out.startswith(ORIGIN + "\n")
    code, out, _ = cli("prove", "--entry", "cli: read me", "--receipt", "p.tlog-proof")
    assert code == 0 and out.startswith("entry ") and Path("p.tlog-proof").exists()
    assert cli("verify", "p.tlog-proof")[0] == 0
    code, out, _ = cli("consistency", "--from", "1", "--json")
    assert code == 0 and json.loads(out)["consistent"] is True
    assert cli("consistency", "--from", "0")[0] == 0
    code, out, _ = cli("entries", "--begin", "0", "--end", "2", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["index"] for r in rows] == [0, 1] and all("leaf_hash" in r for r in rows)
    code, out, _ = cli("audit", "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_errors_say_what_to_do(cli: Any) -> None:
    code, _, err = cli("checkpoint", trust=False)
    assert code == 1 and "pass --log-key" in one_line(err)
    code, _, err = cli("checkpoint", "--server", "127.0.0.1:1", "--timeout", "2")
    assert code == 1 and "cannot reach the log server" in one_line(err)
    code, _, err = cli("verify", "no-such-file")
    assert code == 1 and "no such file" in one_line(err)
    code, _, err = cli("prove", "--index", "999999")
    assert code == 1 and "999999" in one_line(err)
    code, _, err = cli("checkpoint", "--quorum", "1")
    assert code == 1 and "want 0..0" in one_line(err)


def test_rollback_exits_3_and_monitor_alerts(cli: Any, server: RunningServer, tmp_path: Path) -> None:
    assert cli("monitor", "--once")[0] == 0
    forged = sign_note(Checkpoint(ORIGIN, 10**6, SHA256.hash_leaf(b"z")).to_text(),
                       [log_signer(server)])
    CheckpointStore(tmp_path / "state").save(ORIGIN, forged)
    code, _, err = cli("checkpoint")
    assert code == 3 and "rolled back" in one_line(err) and "evidence saved in" in err
    with Webhook() as received:
        code, _, err = cli("monitor", "--once", "--webhook", received.url, "--json")
    assert code == 3
    alert = json.loads(err.strip().splitlines()[0])
    assert alert["kind"] == "rollback" and len(alert["evidence"]) == 2
    assert received.bodies and received.bodies[0]["kind"] == "rollback"


def test_monitor_quorum_and_stall(cli: Any) -> None:
    witness = CosignatureSigner.generate("witness.example/absent").verifier().vkey()
    code, _, err = cli("monitor", "--once", "--witness-key", witness)
    assert code == 1 and "ALERT quorum" in err
    code, _, err = cli("monitor", "--interval", "0.05", "--stall-after", "0.2", "--exit-on-alert")
    assert code == 1 and "ALERT stalled" in err


class Received:
    def __init__(self, url: str) -> None:
        self.url = url
        self.bodies: list[dict[str, Any]] = []


class Webhook:
    """A one-thread HTTP server on 127.0.0.1 that records JSON POST bodies."""

    def __enter__(self) -> Received:
        bodies: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.received = Received(f"http://127.0.0.1:{self.httpd.server_port}/hook")
        self.received.bodies = bodies
        return self.received

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def test_settings_file_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDITLOG_CONFIG", raising=False)
    s = Settings(server="h:1", log="o", log_keys=("k",), witness_keys=("w",), quorum=1,
                 witness_urls=("http://w",), state_dir=Path("st"), archive_dir=Path("ar"))
    (tmp_path / "c.toml").write_text(format_settings(s))
    loaded = load_settings(tmp_path / "c.toml", {"server": "h:2", "log_keys": ()})
    assert loaded.server == "h:2" and loaded.log_keys == ("k",) and loaded.quorum == 1
    assert loaded.state_dir == tmp_path / "st" and loaded.archive_dir == tmp_path / "ar"
    (tmp_path / "bad.toml").write_text('colour = "red"\n')
    with pytest.raises(ValueError, match="unknown keys"):
        load_settings(tmp_path / "bad.toml", {})
    assert load_settings(None, {}).source is None  # no var/client.toml here
    monkeypatch.setenv("AUDITLOG_CONFIG", str(tmp_path / "c.toml"))
    assert load_settings(None, {}).server == "h:1"


def test_progress_outputs() -> None:
    out = io.StringIO()
    plain = PlainProgress(out, every=0)
    plain.start(10, "entries")
    plain.advance(5)
    plain.close()
    assert "10 entries to check" in out.getvalue() and "5/10 entries (50%)" in out.getvalue()
    assert isinstance(progress_for(out), PlainProgress)
    bar = RichProgress()
    bar.start(3, "entries")
    bar.advance(3)
    bar.close()


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["append", "--bogus"], ["prove"], []):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert "--help" in one_line(capsys.readouterr().err)
