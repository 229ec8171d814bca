"""Search from the client: ``client.search.search`` and ``auditlog search`` against a real
server, and a server that alters results (a test-only interceptor on the channel) caught."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from auditlog_tlog.client.cli import main
from auditlog_tlog.client.event import AuditEvent
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.client.search import SearchSpec, TamperedResultError, cli_time, search
from auditlog_tlog.client.verifier import TrustPolicy, Verifier
from auditlog_tlog.proto import auditlog_pb2 as pb
from tests.servers import RunningServer, running, write_server_config

ORIGIN = "search.example/client"
WHEN = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
ACTORS = ("alice", "bob", "carol", "dave")


def _event(i: int) -> AuditEvent:
    return AuditEvent(actor=ACTORS[i % 4], action=("repo.delete", "repo.push", "login")[i % 3],
                      resource=f"acme/web{i % 2}", outcome="failure" if i % 7 == 0 else "success",
                      time=WHEN + timedelta(seconds=i), request_id=f"req-{i}")


EVENTS = [_event(i) for i in range(150)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("search-client")
    config = write_server_config(directory, (ORIGIN,))
    for running_server in running(config):
        stub = running_server.stub()
        for begin in range(0, len(EVENTS), 50):
            stub.AppendBatch(pb.AppendBatchRequest(
                log=ORIGIN, entries=[e.encode() for e in EVENTS[begin:begin + 50]]))
        yield running_server


@pytest.fixture
def verifier(server: RunningServer, tmp_path: Path) -> Verifier:
    with LogClient(server.address, ORIGIN) as client:
        vkey = client.log_info().verifier_key
    return Verifier(TrustPolicy((vkey,)), state_dir=tmp_path / "state")


def _want(test: Callable[[AuditEvent], bool]) -> list[int]:
    return [i for i, e in enumerate(EVENTS) if test(e)]


def test_results_are_proven_and_complete_across_pages(server: RunningServer,
                                                      verifier: Verifier) -> None:
    with LogClient(server.address, ORIGIN) as client:
        result = search(client, verifier, SearchSpec((("actor", "alice"),)), limit=1000)
        assert [f.index for f in result.found] == _want(lambda e: e.actor == "alice")[::-1]
        assert result.next_cursor is None and result.checkpoint.size == len(EVENTS)
        assert all(f.fields is not None and f.fields.actor == "alice" for f in result.found)
        spec = SearchSpec((("action", "repo.*"), ("outcome", "failure")), newest=False)
        found = search(client, verifier, spec, limit=3)
        want = _want(lambda e: e.action.startswith("repo.") and e.outcome == "failure")
        assert [f.index for f in found.found] == want[:3] and found.next_cursor is not None
        rest = search(client, verifier, spec, limit=1000, cursor=found.next_cursor)
        assert [f.index for f in rest.found] == want[3:]


def _tampering(change: Callable[[pb.SearchResponse], None]) -> grpc.UnaryUnaryClientInterceptor:
    class Tamper(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
        def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            outcome = continuation(details, request)
            if details.method.endswith("/Search"):
                change(outcome.result())
            return outcome

    return Tamper()


def _flip_entry(r: pb.SearchResponse) -> None:
    entry = bytearray(r.results[1].entry)
    entry[10] ^= 1
    r.results[1].entry = bytes(entry)


def _flip_entry_and_hash(r: pb.SearchResponse) -> None:
    from auditlog_tlog.tree.hashing import SHA256
    r.results[1].entry = r.results[1].entry.replace(b"alice", b"alicf")
    r.results[1].leaf_hash = SHA256.hash_leaf(r.results[1].entry)


def _swap_in_another_actor(r: pb.SearchResponse) -> None:
    # A real entry with its real proof, but not one that matches the filter.
    r.results[1].CopyFrom(r.results[0])
    r.results[1].index = r.results[0].index - 1


@pytest.mark.parametrize(("change", "says"), [
    (_flip_entry, "is not the hash of its entry"),
    (_flip_entry_and_hash, "not proven in the checkpoint"),
    (_swap_in_another_actor, "not proven"),
])
def test_an_altered_result_is_caught_naming_its_index(
        server: RunningServer, verifier: Verifier,
        change: Callable[[pb.SearchResponse], None], says: str) -> None:
    channel = grpc.intercept_channel(grpc.insecure_channel(server.address), _tampering(change))
    with LogClient(server.address, ORIGIN, channel=channel) as client, \
            pytest.raises(TamperedResultError) as caught:
        search(client, verifier, SearchSpec((("actor", "alice"),)), limit=10)
    want = _want(lambda e: e.actor == "alice")[::-1]
    assert says in str(caught.value)
    assert caught.value.index in (want[1], want[0] - 1)
    assert f"index {caught.value.index}" in str(caught.value)


def test_a_real_entry_that_does_not_match_is_caught(server: RunningServer,
                                                    verifier: Verifier) -> None:
    with LogClient(server.address, ORIGIN) as honest:
        bob = search(honest, verifier, SearchSpec((("actor", "bob"),)), limit=1).found[0]
        size = honest.checkpoint().size
        proof = honest.inclusion_proof(index=bob.index, size=size)

    def swap(r: pb.SearchResponse) -> None:
        r.results[0].index, r.results[0].entry = bob.index, bob.entry
        r.results[0].leaf_hash = bob.leaf_hash
        del r.results[0].proof[:]
        r.results[0].proof.extend(proof.proof)
        del r.results[1:]

    channel = grpc.intercept_channel(grpc.insecure_channel(server.address), _tampering(swap))
    with LogClient(server.address, ORIGIN, channel=channel) as client, \
            pytest.raises(TamperedResultError, match="does not match actor=alice"):
        search(client, verifier, SearchSpec((("actor", "alice"),)), limit=10)


def test_bad_filters_are_invalid_argument_naming_them(server: RunningServer,
                                                      verifier: Verifier) -> None:
    from auditlog_tlog.tree.errors import MalformedError
    with LogClient(server.address, ORIGIN) as client:
        for spec, name in ((SearchSpec((("colour", "red"),)), "colour"),
                           (SearchSpec((("action", "a*b"),)), "action"),
                           (SearchSpec(since="last week"), "since")):
            with pytest.raises(MalformedError, match=name):
                search(client, verifier, spec)


def test_cli_time_takes_days_and_rfc3339() -> None:
    assert cli_time("--since", "2026-11-01", False) == "2026-11-01T00:00:00Z"
    assert cli_time("--until", "2026-11-30", True) == "2026-11-30T23:59:59.999999Z"
    assert cli_time("--since", "2026-11-01T09:00:00Z", False) == "2026-11-01T09:00:00Z"


def test_the_search_command(server: RunningServer, verifier: Verifier, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDITLOG_CONFIG", raising=False)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    vkey = verifier.policy.log_keys[0]
    common = ["--server", server.address, "--log-key", vkey, "--state-dir", str(tmp_path / "s")]
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    code = main(["search", *common, "--actor", "carol", "--action", "repo.*", "--since", today,
                 "--until", today, "--limit", "5", "--json"])
    out, _ = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    want = _want(lambda e: e.actor == "carol" and e.action.startswith("repo."))[::-1][:5]
    assert code == 0 and [line["index"] for line in lines] == want
    assert lines[0]["fields"]["actor"] == "carol" and lines[0]["checkpoint_size"] == len(EVENTS)
    code = main(["search", *common, "--request-id", "req-7"])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("7\t") and "1 results, each proven" in err
    code = main(["search", *common, "--actor", "carol", "--until", "2000-01-01"])
    out, err = capsys.readouterr()
    assert code == 0 and out == "" and "0 results" in err
    code = main(["search", *common, "--attr", "nokey"])
    _, err = capsys.readouterr()
    assert code == 2 and "KEY=VALUE" in err


def test_entries_the_index_does_not_cover_are_named(server: RunningServer, verifier: Verifier,
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # A log indexed only from entry 5 on (opened with the index late, or after a format change):
    # the results stay proven, and the command says which entries it could not search.
    page = LogClient.search_page

    def indexed_late(self: LogClient, request: pb.SearchRequest) -> pb.SearchResponse:
        response = page(self, request)
        response.indexed_from = 5
        return response

    monkeypatch.setattr(LogClient, "search_page", indexed_late)
    with LogClient(server.address, ORIGIN) as client:
        result = search(client, verifier, SearchSpec((("actor", "alice"),)), limit=3)
    assert result.indexed_from == 5 and len(result.found) == 3
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDITLOG_CONFIG", raising=False)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    common = ["--server", server.address, "--log-key", verifier.policy.log_keys[0],
              "--state-dir", str(tmp_path / "s")]
    assert main(["search", *common, "--actor", "alice", "--limit", "2"]) == 0
    _, err = capsys.readouterr()
    assert "not searched: entries 0 to 4, which the log's index does not cover" in err
    monkeypatch.setattr(LogClient, "search_page", page)
    assert main(["search", *common, "--actor", "alice", "--limit", "2"]) == 0
    _, err = capsys.readouterr()
    assert "not searched" not in err
