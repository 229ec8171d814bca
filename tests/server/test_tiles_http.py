"""The c2sp.org/tlog-tiles read path over HTTP against a log of 70,000 entries."""

from __future__ import annotations

import gzip
import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.compact import root_of
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.note import open_note
from auditlog_tlog.tree.tiles import decode_entry_bundle, entry_bundles_for_size, tile_path, tiles_for_size
from auditlog_tlog.tree.vkeys import parse_vkey
from tests.servers import RunningServer, running, write_server_config
from tests.slowclients import slow_clients

ORIGIN = "tiles.example/log"
SIZE = 70_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, list[bytes]]]:
    directory: Path = tmp_path_factory.mktemp("tiles")
    config = write_server_config(directory, (ORIGIN,), extra_log="dedup = false")
    for server in running(config):
        entries = [b"entry %d" % i for i in range(SIZE)]
        stub = server.stub()
        for begin in range(0, SIZE, 10_000):
            stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=entries[begin:begin + 10_000]))
        yield server, entries


def _get(server: RunningServer, path: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(f"{server.tiles_url}/{ORIGIN}/{path}", timeout=10) as r:
            return r.status, r.read(), r.headers["Cache-Control"]
    except urllib.error.HTTPError as exc:
        body = exc.read()
        exc.close()
        return exc.code, body, ""


def test_every_tile_and_bundle_matches_the_tree(served: tuple[RunningServer, list[bytes]]) -> None:
    server, entries = served
    leaves = [SHA256.hash_leaf(e) for e in entries]
    status, note, _ = _get(server, "checkpoint")
    assert status == 200
    vkey = server.stub().GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN)).verifier_key
    checkpoint = parse_checkpoint(open_note(note, [parse_vkey(vkey)]).note.text)
    assert checkpoint.size == SIZE and checkpoint.root == root_of(SHA256, leaves)
    paths = tiles_for_size(SIZE)
    assert len(paths) == 273 + 1 + 2 + 1
    for path in paths:
        status, body, cache = _get(server, path)
        assert status == 200, path
        level = int(path.split("/")[1])
        index = int(path.split("/")[2].split(".")[0]) if "x" not in path else None
        span = 256**level
        if index is not None:
            want = [root_of(SHA256, leaves[(index * 256 + i) * span:(index * 256 + i + 1) * span])
                    for i in range(len(body) // 32)]
            assert body == b"".join(want), path
        assert ("immutable" in cache) == (".p/" not in path)
    for n, path in enumerate(entry_bundles_for_size(SIZE)):
        status, body, _ = _get(server, path)
        assert status == 200 and decode_entry_bundle(body) == entries[n * 256:(n + 1) * 256]


@pytest.mark.parametrize(("path", "status"), [
    (tile_path(0, 274, 1), 404),       # beyond the log
    (tile_path(0, 273, 113), 404),     # wider than the partial tile the log holds
    (tile_path(0, 273, 100), 200),     # a narrower view of a partial tile is fine
    ("tile/0/273.p/0", 400),           # not a canonical tile path
    ("tile/entries/274.p/1", 404),
    ("nothing", 404),
])
def test_missing_and_malformed_paths(served: tuple[RunningServer, list[bytes]], path: str,
                                     status: int) -> None:
    server, _ = served
    got, body, _ = _get(server, path)
    assert got == status, body


def _connection(server: RunningServer) -> http.client.HTTPConnection:
    host, _, port = server.tiles_url.removeprefix("http://").rpartition(":")
    return http.client.HTTPConnection(host, int(port), timeout=10)


def _fetch(conn: http.client.HTTPConnection, path: str,
           headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn.request("GET", f"/{ORIGIN}/{path}", headers=headers or {})
    response = conn.getresponse()
    response.read()
    return response


def test_entry_bundles_are_gzipped_for_clients_that_accept_it(
    served: tuple[RunningServer, list[bytes]]
) -> None:
    server, entries = served
    conn = _connection(server)
    try:
        for path in ("tile/entries/000", "tile/entries/273.p/112"):
            conn.request("GET", f"/{ORIGIN}/{path}", headers={"Accept-Encoding": "gzip"})
            zipped = conn.getresponse()
            body = zipped.read()
            assert zipped.status == 200 and zipped.getheader("Content-Encoding") == "gzip"
            assert zipped.getheader("Vary") == "Accept-Encoding"
            conn.request("GET", f"/{ORIGIN}/{path}")
            plain = conn.getresponse()
            raw = plain.read()
            assert plain.getheader("Content-Encoding") is None
            assert gzip.decompress(body) == raw and len(body) < len(raw)
            index = int(path.split("/")[2].split(".")[0])
            assert decode_entry_bundle(raw) == entries[index * 256:index * 256 + len(
                decode_entry_bundle(raw))]
        refused = _fetch(conn, "tile/entries/000", {"Accept-Encoding": "gzip;q=0, identity"})
        assert refused.getheader("Content-Encoding") is None
        tile = _fetch(conn, "tile/0/000", {"Accept-Encoding": "gzip"})
        assert tile.status == 200 and tile.getheader("Content-Encoding") is None  # hashes
    finally:
        conn.close()


def test_tiles_on_a_reused_connection_do_not_wait_for_delayed_acks(
    served: tuple[RunningServer, list[bytes]]
) -> None:
    """A regression guard for the Nagle stall (~44 ms a request), not a benchmark."""
    server, _ = served
    conn = _connection(server)
    try:
        assert _fetch(conn, "tile/0/000").status == 200
        started = time.monotonic()
        statuses = {_fetch(conn, f"tile/0/{i:03d}").status for i in range(50)}
        elapsed = time.monotonic() - started
    finally:
        conn.close()
    assert statuses == {200}
    assert elapsed < 1.0, f"50 tiles on one connection took {elapsed:.3f} s"


def test_tiles_are_served_while_200_slow_connections_are_open(
    served: tuple[RunningServer, list[bytes]]
) -> None:
    server, _ = served
    port = int(server.tiles_url.rpartition(":")[2])
    with slow_clients(port, 200, interval_s=0.1) as slow:
        time.sleep(0.3)
        assert slow.answered() == 0  # all accepted, none answered yet: they are still dribbling
        status, note, _ = _get(server, "checkpoint")
        assert status == 200 and note.startswith(ORIGIN.encode())
        assert _get(server, "tile/0/001")[0] == 200
