"""A witness on its journal (witness/app.py, the journal queueing the local archive): logs
pushing concurrently are all answered, durable and archived, and a refused request changes
nothing. An add-checkpoint alone is handled on the event loop, one among others in a worker
thread (witness/httpd.py), with the same outcome."""

from __future__ import annotations

import http.client
import socket
import threading
from collections import Counter
from pathlib import Path

import pytest

from auditlog_tlog.tree.note import parse_signature_lines
from auditlog_tlog.witness.app import WitnessApp
from auditlog_tlog.witness.config import parse_config
from auditlog_tlog.witness.journal import Journal
from tests.witness.helpers import TestLog, make_witness, request, served


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


def _app(tmp_path: Path, logs: list[TestLog]) -> WitnessApp:
    text = '[witness]\nname = "witness.example/w1"\nlisten = "127.0.0.1:0"\n' + "".join(
        f'[[log]]\norigin = "{log.origin}"\nvkey = "{log.signer.vkey()}"\n' for log in logs)
    app = WitnessApp(parse_config(text, tmp_path))
    app.start()
    return app


def _archived(tmp_path: Path) -> int:
    return len([p for p in (tmp_path / "archive" / "cosigned").rglob("*") if p.is_file()])


def test_a_request_alone_is_handled_inline(tmp_path: Path) -> None:
    log = TestLog()
    app = _app(tmp_path, [log])
    assert app.http is not None
    conn = http.client.HTTPConnection("127.0.0.1", app.http.port, timeout=10)
    try:
        for old, new in ((0, 3), (3, 8), (8, 9)):
            reply = request(app.http.port, "POST", "/add-checkpoint", log.body(old, new),
                            connection=conn)
            assert reply.status == 200
            # Answered: durable (a state is loaded only once synced) and in the archive.
            state = app.witness.state_of(log.origin)
            assert state is not None and state.size == new
            assert _archived(tmp_path) == (1, 2, 3)[(3, 8, 9).index(new)]
        assert request(app.http.port, "POST", "/add-checkpoint", log.body(3, 10),
                       connection=conn).status == 409
        assert app.http.paths == Counter(inline=4)
    finally:
        conn.close()
        app.stop()


def test_a_request_among_others_goes_to_a_thread(tmp_path: Path) -> None:
    first, second = TestLog("test.example/a"), TestLog("test.example/b")
    app = _app(tmp_path, [first, second])
    assert app.http is not None
    port = app.http.port
    body = first.body(0, 5)
    head = (f"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: {len(body)}\r\n"
            "\r\n").encode()
    slow = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        slow.sendall(head + body[:10])  # begun, not complete: in progress
        reply = request(port, "POST", "/add-checkpoint", second.body(0, 7))
        assert reply.status == 200
        assert app.http.paths == Counter(thread=1)
        state = app.witness.state_of(second.origin)
        assert state is not None and state.size == 7
        assert _archived(tmp_path) == 1
        slow.sendall(body[10:])  # now alone again
        answer = slow.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert app.http.paths == Counter(thread=1, inline=1)
    finally:
        slow.close()
        app.stop()
    journal = Journal(tmp_path / "state")  # what a restart reads
    try:
        for log, size in ((first, 5), (second, 7)):
            state = journal.load(log.origin)
            assert state is not None and (state.size, state.root) == (size, log.root(size))
    finally:
        journal.close()
    assert _archived(tmp_path) == 2


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


def test_without_inline_every_request_goes_to_a_thread(tmp_path: Path) -> None:
    log = TestLog()  # the app's choice for an S3 archive, whose puts wait on the network
    with served(make_witness(tmp_path, [log]), inline=False) as server:
        for old, new in ((0, 3), (3, 8)):
            assert request(server.port, "POST", "/add-checkpoint", log.body(old, new)).status == 200
        assert server.paths == Counter(thread=2)
