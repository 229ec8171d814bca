"""A witness on its journal (witness/app.py, the journal queueing the local archive): logs
pushing concurrently are all answered, durable and archived, and a refused request changes
nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from auditlog_tlog.tree.note import parse_signature_lines
from auditlog_tlog.witness.app import WitnessApp
from auditlog_tlog.witness.config import parse_config
from auditlog_tlog.witness.journal import Journal
from tests.witness.helpers import TestLog, request


def test_concurrent_logs_are_answered_durably_and_archived(tmp_path: Path) -> None:
    logs = [TestLog(f"test.example/log{i}") for i in range(4)]
    text = '[witness]\nname = "witness.example/w1"\nlisten = "127.0.0.1:0"\n' + "".join(
        f'[[log]]\norigin = "{log.origin}"\nvkey = "{log.signer.vkey()}"\n' for log in logs)
    app = WitnessApp(parse_config(text, tmp_path))
    app.start()
    assert app.http is not None
    port = app.http.port
    statuses: list[int] = []
    lock = threading.Lock()

    def push(log: TestLog) -> None:
        for old, new in ((0, 3), (3, 8), (8, 9), (9, 20), (20, 21)):
            reply = request(port, "POST", "/add-checkpoint", log.body(old, new))
            with lock:
                statuses.append(reply.status)
            if reply.status == 200:
                assert parse_signature_lines(reply.body)[0].name == "witness.example/w1"

    threads = [threading.Thread(target=push, args=(log,)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    app.stop()
    assert statuses == [200] * 20
    journal = Journal(tmp_path / "state")  # what a restart reads
    try:
        for log in logs:
            state = journal.load(log.origin)
            assert state is not None and (state.size, state.root) == (21, log.root(21))
    finally:
        journal.close()
    archived = [p for p in (tmp_path / "archive" / "cosigned").rglob("*") if p.is_file()]
    assert len(archived) == 20


@pytest.mark.parametrize("old", [0, 5])
def test_a_refused_request_changes_nothing(tmp_path: Path, old: int) -> None:
    log = TestLog()
    text = ('[witness]\nname = "witness.example/w1"\nlisten = "127.0.0.1:0"\n'
            f'[[log]]\norigin = "{log.origin}"\nvkey = "{log.signer.vkey()}"\n')
    app = WitnessApp(parse_config(text, tmp_path))
    app.start()
    assert app.http is not None
    try:
        assert request(app.http.port, "POST", "/add-checkpoint", log.body(0, 5)).status == 200
        bad = log.body(old, 9, proof=[bytes(32)] * 3)  # 409 from 0, a failing proof from 5
        reply = request(app.http.port, "POST", "/add-checkpoint", bad)
        assert reply.status == (409 if old == 0 else 422)
        state = app.witness.state_of(log.origin)
        assert state is not None and state.size == 5
    finally:
        app.stop()
