"""Hostile inputs to the witness's tlog-witness listener (docs/witness-hardening.md): request
targets a client library would not send, notes a hostile log signs, and two connections racing
for one log. Requests go out on raw sockets, byte for byte."""

from __future__ import annotations

import base64
import json
import re
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.keys import NoteVerifier
from auditlog_tlog.tree.note import parse_note
from auditlog_tlog.tree.witness_protocol import MAX_BODY_SIZE
from auditlog_tlog.witness.app import WitnessApp
from auditlog_tlog.witness.config import parse_config
from auditlog_tlog.witness.core import Witness, WitnessedLog, origin_hash
from auditlog_tlog.witness.httpd import SMALL_BODY
from auditlog_tlog.witness.metrics import WitnessMetrics
from auditlog_tlog.witness.state import FileStateStore
from tests.witness.helpers import (
    MemoryArchive,
    TestLog,
    add_checkpoint,
    make_witness,
    served,
)


class Hostile:
    def __init__(self, tmp_path: Path, signers: int = 1) -> None:
        self.log = TestLog()
        self.archive = MemoryArchive()
        self.metrics = WitnessMetrics()
        keys = [CosignatureSigner.generate(f"witness.example/w{i}") for i in range(signers)]
        self.witness: Witness = make_witness(tmp_path / "state", [self.log], self.archive,
                                             signers=keys)
        self.port = 0

    def send(self, data: bytes, answers: int = 1) -> list[tuple[int, bytes]]:
        """Send raw bytes on a new connection; the (status, body) of the first ``answers``."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(data)
            buf = b""
            out: list[tuple[int, bytes]] = []
            while len(out) < answers:
                head, sep, rest = buf.partition(b"\r\n\r\n")
                length = re.search(rb"\r\nContent-Length: (\d+)", head)
                if sep and length and len(rest) >= int(length.group(1)):
                    n = int(length.group(1))
                    out.append((int(head.split(b" ")[1]), rest[:n]))
                    buf = rest[n:]
                    continue
                chunk = sock.recv(65536)
                assert chunk, f"connection closed after {len(out)} answers: {buf!r}"
                buf += chunk
            return out

    def post(self, body: bytes, target: str = "/add-checkpoint") -> tuple[int, bytes]:
        head = f"POST {target} HTTP/1.1\r\nHost: w\r\nContent-Length: {len(body)}\r\n\r\n"
        return self.send(head.encode() + body)[0]

    def get(self, target: str) -> tuple[int, bytes]:
        return self.send(f"GET {target} HTTP/1.1\r\nHost: w\r\n\r\n".encode())[0]

    def size(self) -> int | None:
        state = self.witness.state_of(self.log.origin)
        return None if state is None else state.size


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Hostile]:
    setup = Hostile(tmp_path)
    with served(setup.witness, metrics=setup.metrics) as server:
        setup.port = server.port
        yield setup


def test_a_query_or_an_absolute_form_target_reaches_the_endpoint(h: Hostile) -> None:
    # RFC 9112 §3.2.2: a server must accept the absolute form; a query does not name another
    # resource here. Both were 404: the handler routed request.raw_path, which holds them.
    status, lines = h.post(h.log.body(0, 3), "/add-checkpoint?from=log")
    assert (status, h.post(h.log.body(3, 3))) == (200, (200, lines))
    assert h.post(h.log.body(3, 5), "http://w/add-checkpoint")[0] == 200
    note = h.witness.latest(origin_hash(h.log.origin))
    assert h.get(f"/{origin_hash(h.log.origin)}/checkpoint?x=1") == (200, note)
    assert h.get(f"http://w/{origin_hash(h.log.origin)}/checkpoint") == (200, note)
    for target in (f"/%2e%2e/{origin_hash(h.log.origin)}/checkpoint",
                   f"//{origin_hash(h.log.origin)}/checkpoint", "/add-checkpoint/?"):
        assert h.get(target)[0] == 404
    assert h.post(h.log.body(5, 6), "//add-checkpoint")[0] == 404
    assert h.size() == 5
    counted = h.metrics.registry.get_sample_value(
        "auditlog_witness_requests_total", {"endpoint": "add-checkpoint", "code": "200"})
    assert counted == 3


@pytest.mark.parametrize("keys", [1, 2])
def test_repeated_log_signature_lines_are_kept_once(tmp_path: Path, keys: int) -> None:
    # 100 lines (the most a note may have) all by the log's key: the witness added its own
    # and built a note of 101 or 102 lines, a ValueError (500); 3 lines were cosigned and
    # stored and archived three times over. Go's note.Open drops repeated lines of a known key.
    setup = Hostile(tmp_path, signers=keys)
    with served(setup.witness) as server:
        setup.port = server.port
        for repeats, size in ((99, 1), (2, 2)):
            note = setup.log.checkpoint(size)
            line = note.split(b"\n\n", 1)[1]
            status, text = setup.post(setup.log.body(size - 1, size, note=note + line * repeats))
            assert status == 200, text
            state = setup.witness.state_of(setup.log.origin)
            assert state is not None and state.size == size
            stored = parse_note(state.checkpoint).signatures
            assert len(stored) == 1 + keys
            assert [parse_note(v).signatures for v in setup.archive.objects.values()
                    if v == state.checkpoint] == [stored]


class SplitLog(TestLog):
    """The log's key over a tree that shares the first ``common`` leaves of ``base`` and then
    differs: a split view, consistent with every checkpoint of ``base`` up to ``common``."""

    __test__ = False

    def __init__(self, base: TestLog, common: int, salt: bytes = b"split") -> None:
        super().__init__(base.origin, base.signer)
        self.base, self.common, self.split = base, common, salt

    def leaves(self, n: int) -> list[bytes]:
        other = TestLog(self.origin, self.signer, self.split).leaves(n)
        return self.base.leaves(n)[: self.common] + other[self.common :]


def _evidence(archive: MemoryArchive) -> list[dict[str, object]]:
    return [json.loads(v) for k, v in sorted(archive.objects.items()) if k.startswith("evidence/")]


def test_a_fork_with_a_stale_old_size_is_refused_409_and_kept_as_evidence(h: Hostile) -> None:
    # The log signed two roots for size 5. With the old size the witness holds it was a 422
    # with evidence; with any other old size it was a 409 and the signed fork was dropped.
    assert h.post(h.log.body(0, 5))[0] == 200
    split = SplitLog(h.log, 3)
    for old in (0, 3, 4):
        assert h.post(split.body(old, 5, proof=split.proof(old, 5))) == (409, b"5\n")
    assert h.size() == 5
    evidence = _evidence(h.archive)
    assert len(evidence) == 1  # the same signed fork is one object, however often it comes
    assert evidence[0]["presented"] == split.checkpoint(5).decode()
    assert evidence[0]["reason"] == "same size, another root"


def test_two_connections_racing_with_two_views_of_one_size_one_wins(tmp_path: Path) -> None:
    # A log shows each of two connections another tree of the same size, both consistent with
    # the size cosigned: exactly one is cosigned, the other gets 409 and is kept as evidence.
    base: TestLog = TestLog()
    text = ('[witness]\nname = "witness.example/w1"\nlisten = "127.0.0.1:0"\n'
            f'[[log]]\norigin = "{base.origin}"\nvkey = "{base.signer.vkey()}"\n')
    app = WitnessApp(parse_config(text, tmp_path))
    app.start()
    try:
        assert app.http is not None
        port = app.http.port
        assert add_checkpoint(port, base.body(0, 4)).status == 200
        for size in range(4, 24):
            views = [base, SplitLog(base, size, salt=b"%d" % size)]
            requests = [(f"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: "
                         f"{len(body)}\r\n\r\n").encode() + body
                        for body in (view.body(size, size + 1) for view in views)]
            socks = [socket.create_connection(("127.0.0.1", port), timeout=10)
                     for _ in views]
            for sock, data in zip(socks, requests, strict=True):
                sock.sendall(data[:-1])
            for sock, data in zip(socks, requests, strict=True):
                sock.sendall(data[-1:])  # both complete within a few microseconds
            answers = [sock.recv(65536).split(b"\r\n", 1)[0] for sock in socks]
            for sock in socks:
                sock.close()
            assert sorted(answers) == [b"HTTP/1.1 200 OK", b"HTTP/1.1 409 Conflict"], size
            base = views[answers.index(b"HTTP/1.1 200 OK")]
            state = app.witness.state_of(base.origin)
            assert state is not None and (state.size, state.root) == (size + 1, base.root(size + 1))
        evidence = [p for p in (tmp_path / "archive" / "evidence").rglob("*") if p.is_file()]
        assert len(evidence) == 20
        assert app.http.paths["thread"] >= 2  # at least one race was run in worker threads
    finally:
        app.stop()


@dataclass
class CountingVerifier:
    """A log key that counts the signatures it checks."""

    inner: NoteVerifier
    checked: int = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def key_id(self) -> bytes:
        return self.inner.key_id

    def verify(self, message: bytes, signature: bytes) -> bool:
        self.checked += 1
        return self.inner.verify(message, signature)


def test_a_repeated_log_signature_line_is_verified_once(tmp_path: Path) -> None:
    # Anyone may replay a note the log published with its line repeated 100 times: each
    # line was verified, 100 Ed25519 checks (~20 ms of CPU, on the event loop when alone)
    # for a request of 12 KB.
    log = TestLog()
    verifier = CountingVerifier(log.signer.verifier())
    witness = Witness((CosignatureSigner.generate("witness.example/w1"),),
                      [WitnessedLog(log.origin, (verifier,))], FileStateStore(tmp_path),
                      MemoryArchive())
    note = log.checkpoint(3)
    witness.add_checkpoint(log.body(0, 3, note=note + note.split(b"\n\n", 1)[1] * 99))
    assert verifier.checked == 1


def test_a_large_body_alone_is_handled_in_a_thread(tmp_path: Path) -> None:
    # A body near the 1 MiB limit (signature lines of keys the witness does not know) took
    # ~27 ms of CPU to parse; alone, that was on the event loop, and no other connection was
    # read meanwhile. A push is a few KB: only bodies up to SMALL_BODY go inline.
    log = TestLog()
    note = log.checkpoint(2)
    filler = "".join(f"— k{i}.example {base64.b64encode(bytes(7500)).decode()}\n"
                     for i in range(99)).encode()
    with served(make_witness(tmp_path, [log])) as server:
        assert add_checkpoint(server.port, log.body(0, 2, note=note + filler)).status == 200
        assert len(note + filler) > SMALL_BODY
        assert add_checkpoint(server.port, log.body(2, 3)).status == 200
        assert server.paths == Counter(thread=1, inline=1)


def test_the_checkpoint_cosigned_with_a_proof_is_refused_and_is_no_fork(h: Hostile) -> None:
    # Anyone can fetch the witness's checkpoint (GET <origin>/checkpoint) and send it back with
    # a hash as proof: a proof between equal sizes must be empty, so it was a 422, and the
    # witness archived "evidence of a fork" whose two checkpoints were one and logged FORK.
    assert h.post(h.log.body(0, 5))[0] == 200
    note = h.log.checkpoint(5)
    for proof in ([h.log.root(5)], [bytes(32)] * 3):
        status, text = h.post(h.log.body(5, 5, proof=proof, note=note))
        assert status == 422 and b"proof" in text, text
    assert _evidence(h.archive) == []
    assert h.size() == 5


def test_large_request_bodies_held_at_once_are_capped(tmp_path: Path) -> None:
    # Each connection's body (up to 1 MiB) was read and held while it waited for a worker:
    # 600 connections of 1 MiB behind a held-up disk took RSS to 737 MiB. Bodies over
    # SMALL_BODY are now capped; a push (a few KB) is never kept out by them.
    log, stranger = TestLog(), TestLog("test.example/nobody")
    # Notes may not end in blank lines: each of these is a 400 once read.
    held_body = b"old 0\n\n" + log.checkpoint(9) + b"\n" * (2 * SMALL_BODY)
    other = b"old 0\n\n" + stranger.checkpoint(1) + b"\n" * (SMALL_BODY + 1000)
    cap = len(held_body) + 100  # full once the held body counts, even for a push
    assert len(log.body(0, 5)) > 100
    with served(make_witness(tmp_path, [log]), max_inflight_bytes=cap) as server:
        head = (f"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: "
                f"{len(held_body)}\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as held:
            held.sendall(head + held_body[:10])  # counted from its headers
            refused = None
            for _ in range(200):  # until the held request's headers are read
                reply = add_checkpoint(server.port, other)
                if reply.status == 503:
                    refused = reply
                    break
                assert reply.status == 400
            assert refused is not None
            assert refused.headers["retry-after"] == "1"
            assert f"limit {cap}".encode() in refused.body
            assert add_checkpoint(server.port, log.body(0, 5)).status == 200  # a push gets in
            held.sendall(held_body[10:])
            assert held.recv(65536).startswith(b"HTTP/1.1 400 ")
        assert add_checkpoint(server.port, other).status == 400  # the budget was given back


def test_max_inflight_bytes_is_configured_and_checked(tmp_path: Path) -> None:
    text = ('[witness]\nname = "witness.example/w1"\n{}'
            '[[log]]\norigin = "o.example/log"\nvkey = "' + TestLog().signer.vkey() + '"\n')
    assert parse_config(text.format(""), tmp_path).max_inflight_bytes == 64 << 20
    assert parse_config(text.format(f"max_inflight_bytes = {MAX_BODY_SIZE}\n"),
                        tmp_path).max_inflight_bytes == MAX_BODY_SIZE
    with pytest.raises(ValueError, match="max_inflight_bytes: got 4096, want"):
        parse_config(text.format("max_inflight_bytes = 4096\n"), tmp_path)
