"""``GET /api/v1/search`` on a real server: results, proofs, pages, time ranges, bad input."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditlog_tlog.client.event import AuditEvent
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.tree.checkpoint import open_checkpoint
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.verify import verify_inclusion
from auditlog_tlog.tree.vkeys import parse_vkey
from tests.servers import RunningServer, running, write_server_config

ORIGIN = "search.example/log"
WHEN = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def _event(i: int) -> AuditEvent:
    actor = ("alice", "bob", "carol")[i % 3]
    action = ("repo.delete", "repo.create", "user.login")[i % 3 if i % 2 else 0]
    return AuditEvent(actor=actor, action=action, resource=f"acme/web{i % 4}",
                      outcome="failure" if i % 5 == 0 else "success",
                      time=WHEN + timedelta(seconds=i), source="git",
                      request_id=f"req-{i}", attributes={"service.name": f"svc{i % 2}"})


EVENTS = [_event(i) for i in range(60)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, list[bytes]]]:
    directory: Path = tmp_path_factory.mktemp("search")
    config = write_server_config(directory, (ORIGIN,),
                                 extra_log='index_attributes = ["service.name"]\npublic_read = true')
    entries: list[bytes] = []
    for server in running(config):
        stub = server.stub()
        for begin in range(0, len(EVENTS), 20):  # three batches, with opaque entries between
            batch = [e.encode() for e in EVENTS[begin:begin + 20]] + [b"opaque %d" % begin]
            stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=batch))
            entries.extend(batch)
        yield server, entries


def _search(server: RunningServer, **params: str) -> tuple[int, dict[str, Any]]:
    query = urllib.parse.urlencode({"log": ORIGIN, **params})
    try:
        with urllib.request.urlopen(f"{server.tiles_url}/api/v1/search?{query}", timeout=10) as r:
            assert r.headers["Content-Type"].startswith("application/json")
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
        exc.close()
        return exc.code, body


def _verified(server: RunningServer, body: dict[str, Any]) -> list[int]:
    """The indexes of a page, after checking the checkpoint and every proof."""
    vkey = server.stub().GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN)).verifier_key
    checkpoint, _ = open_checkpoint(body["checkpoint"].encode(), [parse_vkey(vkey)], origin=ORIGIN)
    assert checkpoint.size == body["size"]
    for result in body["results"]:
        entry = base64.b64decode(result["entry"])
        assert bytes.fromhex(result["leaf_hash"]) == SHA256.hash_leaf(entry)
        verify_inclusion(SHA256, result["index"], checkpoint.size, SHA256.hash_leaf(entry),
                         [base64.b64decode(h) for h in result["proof"]], checkpoint.root)
    return [r["index"] for r in body["results"]]


def _indexes_of(entries: list[bytes], want: Any) -> list[int]:
    return [i for i, e in enumerate(entries) if not e.startswith(b"opaque") and want(
        json.loads(e))]


def test_one_actor_newest_first_with_proofs(served: tuple[RunningServer, list[bytes]]) -> None:
    server, entries = served
    status, body = _search(server, actor="alice")
    assert status == 200 and body["log"] == ORIGIN and body["next_cursor"] is None
    want = _indexes_of(entries, lambda e: e["actor"] == "alice")
    assert _verified(server, body) == want[::-1]
    first = body["results"][0]
    event = json.loads(base64.b64decode(first["entry"]))
    assert first["fields"]["actor"] == "alice" and first["fields"]["action"] == event["action"]
    assert first["fields"]["time"] == event["time"] and first["fields"]["principal"] is None
    assert first["fields"]["logged_at"].endswith("Z")


def test_filters_combine_and_prefix(served: tuple[RunningServer, list[bytes]]) -> None:
    server, entries = served
    status, body = _search(server, action="repo.*", outcome="failure", order="oldest")
    assert status == 200
    want = _indexes_of(entries, lambda e: e["action"].startswith("repo.")
                       and e["outcome"] == "failure")
    assert want and _verified(server, body) == want
    status, body = _search(server, resource="acme/web1", **{"attr.service.name": "svc1"})
    want = _indexes_of(entries, lambda e: e["resource"] == "acme/web1"
                       and e["attributes"]["service.name"] == "svc1")
    assert status == 200 and want and _verified(server, body) == want[::-1]


def test_pages_with_a_cursor_cover_every_result_once(
        served: tuple[RunningServer, list[bytes]]) -> None:
    server, entries = served
    seen: list[int] = []
    cursor = ""
    sizes = set()
    for _ in range(20):
        status, body = _search(server, source="git", limit="7", cursor=cursor)
        assert status == 200 and len(body["results"]) <= 7
        seen.extend(_verified(server, body))
        sizes.add(body["size"])
        if body["next_cursor"] is None:
            break
        cursor = body["next_cursor"]
    assert seen == _indexes_of(entries, lambda e: True)[::-1] and len(sizes) == 1


def test_no_filter_is_every_entry_and_time_ranges_select_batches(
        served: tuple[RunningServer, list[bytes]]) -> None:
    server, entries = served
    status, body = _search(server, limit="100", order="oldest")
    assert status == 200 and _verified(server, body) == list(range(len(entries)))
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, body = _search(server, since=future)
    assert status == 200 and body["results"] == [] and body["next_cursor"] is None
    status, body = _search(server, until="2000-01-01T00:00:00Z")
    assert status == 200 and body["results"] == []
    logged = body_logged = _search(server, limit="1", order="oldest")[1]
    stamp = logged["results"][0]["fields"]["logged_at"]
    status, body = _search(server, since=stamp, until=stamp, order="oldest")
    assert status == 200 and body_logged["results"][0]["index"] == body["results"][0]["index"]


@pytest.mark.parametrize(("params", "status", "names"), [
    ({"colour": "red"}, 400, "colour"),
    ({"action": "re*po"}, 400, "action"),
    ({"resource": "a?"}, 400, "resource"),
    ({"since": "yesterday"}, 400, "since"),
    ({"until": "2026-11-01"}, 400, "until"),
    ({"limit": "0"}, 400, "limit"),
    ({"limit": "101"}, 400, "limit"),
    ({"order": "sideways"}, 400, "order"),
    ({"cursor": "bm90IGEgY3Vyc29y"}, 400, "cursor"),
    ({"log": ""}, 400, "log"),
    ({"log": "nope.example/log"}, 404, "log"),
])
def test_bad_input_names_the_parameter(served: tuple[RunningServer, list[bytes]],
                                       params: dict[str, str], status: int, names: str) -> None:
    server, _ = served
    got, body = _search(server, **params)
    assert got == status and names in body["error"]


def test_a_cursor_of_another_query_is_refused(served: tuple[RunningServer, list[bytes]]) -> None:
    server, _ = served
    _, body = _search(server, actor="alice", limit="1")
    status, other = _search(server, actor="bob", limit="1", cursor=body["next_cursor"])
    assert status == 400 and "another query" in other["error"]
