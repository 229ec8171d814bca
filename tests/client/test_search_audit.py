"""Time ranges and the index half of ``auditlog audit`` against a real server: ``entries`` and
``audit`` with ``--since``/``--until``, and an index that hides an entry caught by the audit."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from auditlog_tlog.client.cli import main
from auditlog_tlog.client.event import AuditEvent
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.storage.db import Database, prefix
from auditlog_tlog.storage.layout import LogKeys
from auditlog_tlog.storage.postings import pack_offsets, unpack_offsets
from tests.servers import RunningServer, start_server, write_server_config

ORIGIN = "search.example/audit"
WHEN = datetime(2026, 11, 3, tzinfo=UTC)
BATCHES = ((0, 20), (20, 45), (45, 60))


def _entry(i: int) -> bytes:
    return AuditEvent(actor=("alice", "bob")[i % 2], action="repo.push", resource=f"r{i % 3}",
                      time=WHEN, request_id=f"q{i}").encode()


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_server_config(tmp_path_factory.mktemp("search-audit"), (ORIGIN,))


@pytest.fixture(scope="module")
def logged_at(config: Path) -> list[str]:
    """Fill the log in three batches; the sequencing time of each, as the server reports it."""
    server = start_server(config)
    try:
        stub = server.stub()
        for begin, end in BATCHES:
            stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=[
                _entry(i) for i in range(begin, end)]))
        with LogClient(server.address, ORIGIN) as client:
            times = []
            for begin, _ in BATCHES:
                page = client.search_page(pb.SearchRequest(begin=begin, end=begin + 1, limit=1))
                times.append(page.results[0].logged_at_unix_nano)
    finally:
        server.stop()
    assert times == sorted(times) and len(set(times)) == 3
    from auditlog_tlog.common.searchfields import rfc3339_ns
    return [rfc3339_ns(t) for t in times]


@pytest.fixture
def served(config: Path, logged_at: list[str]) -> Iterator[RunningServer]:
    server = start_server(config)
    yield server
    server.stop()


def _cli(server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str], command: str, *args: str) -> tuple[int, str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDITLOG_CONFIG", raising=False)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    with LogClient(server.address, ORIGIN) as client:
        vkey = client.log_info().verifier_key
    code = main([command, "--server", server.address, "--log-key", vkey, "--state-dir",
                 str(tmp_path / "state"), *args])
    out, _ = capsys.readouterr()
    return code, out


def test_entries_and_audit_of_a_time_range(served: RunningServer, logged_at: list[str],
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    run: Any = lambda *a: _cli(served, tmp_path, monkeypatch, capsys, *a)  # noqa: E731
    code, out = run("entries", "--since", logged_at[1], "--until", logged_at[1], "--json")
    assert code == 0 and [json.loads(x)["index"] for x in out.splitlines()] == list(range(20, 45))
    code, out = run("entries", "--since", logged_at[2], "--json")
    assert code == 0 and [json.loads(x)["index"] for x in out.splitlines()] == list(range(45, 60))
    code, out = run("audit", "--since", logged_at[1], "--until", logged_at[2], "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["begin"] == 20 and report["entries"] == 40
    assert report["index_keys"] == 40 * 4  # actor, action, resource, outcome (no source)
    code, out = run("audit", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["index_keys"] == 60 * 4


def _refile(db: Database, keys: LogKeys, head: bytes, index: int, add: bool) -> None:
    """Add ``index`` to, or remove it from, the posting list of ``head`` (field and value) for
    the batch holding it (storage/index.py)."""
    batches = keys.search + b"B"
    found = list(db.scan_back(batches, batches + (index + 1).to_bytes(8, "big")))
    first = int.from_bytes(found[0][0][-8:], "big")
    key = keys.search + head + b"\x00\x00" + first.to_bytes(8, "big")
    raw = db.get(key)
    offsets = set() if raw is None else set(unpack_offsets(raw))
    assert (index - first in offsets) != add
    offsets ^= {index - first}
    wb = db.batch()
    if offsets:
        wb.put(key, pack_offsets(sorted(offsets), 2))
    else:
        wb.delete(key)
    db.write(wb)


def test_an_index_that_hides_an_entry_is_caught(config: Path, logged_at: list[str],
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    db = Database(config.parent / "data" / "db")
    try:
        keys = LogKeys(prefix(db.register_log(ORIGIN, "sha256")))
        # Entry 23 (bob) leaves bob's posting list; entry 24 (alice) moves from alice's to bob's.
        _refile(db, keys, b"abob", 23, add=False)
        _refile(db, keys, b"aalice", 24, add=False)
        _refile(db, keys, b"abob", 24, add=True)
    finally:
        db.close()
    server = start_server(config)
    try:
        run: Any = lambda *a: _cli(server, tmp_path, monkeypatch, capsys, *a)  # noqa: E731
        for args in (("audit", "--json"), ("audit", "--since", logged_at[1], "--json")):
            code, out = run(*args)
            report = json.loads(out)
            kinds = sorted(f["kind"] for f in report["findings"])
            assert code == 1 and kinds == ["index-missing", "index-missing"], report["findings"]
            text = " ".join(f["message"] for f in report["findings"])
            assert "actor='bob'" in text and "entries 23 " in text and "entries 24 " in text
        code, _ = run("audit", "--since", logged_at[2], "--json")  # after the damage: clean
        assert code == 0
    finally:
        server.stop()


def test_the_audit_checks_the_index_from_where_the_log_began_keeping_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "server").mkdir()
    config = write_server_config(tmp_path / "server", (ORIGIN,), extra_log="search_index = false")
    for on in (False, True):
        if on:
            config.write_text(config.read_text().replace("search_index = false", ""))
        server = start_server(config)
        try:
            server.stub().AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=[
                _entry(i) for i in range(10 * on, 10 * on + 10)]))
        finally:
            server.stop()
    server = start_server(config)
    try:
        code, out = _cli(server, tmp_path, monkeypatch, capsys, "audit", "--json")
        report = json.loads(out)
        assert code == 0 and report["index_from"] == 10 and report["index_keys"] == 10 * 4
    finally:
        server.stop()
