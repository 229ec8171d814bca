"""Every status code of c2sp.org/tlog-witness@v1.0.0 add-checkpoint (with the HEAD 422 cases),
over real HTTP on loopback, and the monitoring endpoint."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlog_tlog.tree.checkpoint import Checkpoint, open_checkpoint
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import open_note, parse_note, parse_signature_lines, sign_note
from auditlog_tlog.tree.witness_protocol import MAX_BODY_SIZE
from auditlog_tlog.witness.archive import cosigned_key
from auditlog_tlog.witness.core import Witness, origin_hash
from auditlog_tlog.witness.httpd import WitnessHTTPServer
from tests.clock import FakeClock
from tests.witness.helpers import (
    NOW,
    MemoryArchive,
    TestLog,
    add_checkpoint,
    make_witness,
    request,
    served,
)


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.log = TestLog()
        self.archive = MemoryArchive()
        self.clock = FakeClock()
        self.signer = CosignatureSigner.generate("witness.example/w1")
        self.witness = make_witness(tmp_path / "state", [self.log], self.archive, self.clock,
                                    signer=self.signer)
        self.port = 0

    def post(self, body: bytes) -> tuple[int, bytes]:
        reply = add_checkpoint(self.port, body)
        return reply.status, reply.body

    def state(self) -> tuple[int, bytes] | None:
        s = self.witness.state_of(self.log.origin)
        return None if s is None else (s.size, s.root)


@pytest.fixture
def w(tmp_path: Path) -> Iterator[Setup]:
    setup = Setup(tmp_path)
    with served(setup.witness) as server:
        setup.port = server.port
        yield setup


def test_200_cosigns_from_old_0_and_the_cosignature_verifies(w: Setup) -> None:
    reply = add_checkpoint(w.port, w.log.body(0, 5))
    assert reply.status == 200, reply.body
    (line,) = parse_signature_lines(reply.body)
    assert (line.name, line.key_id) == (w.signer.name, w.signer.key_id)
    assert int.from_bytes(line.signature[:8], "big") == NOW
    text = Checkpoint(w.log.origin, 5, w.log.root(5)).to_text()
    assert w.signer.verifier().verify(text.encode(), line.signature)
    assert w.state() == (5, w.log.root(5))


def test_200_extends_with_a_consistency_proof_and_archives_each_cosigned_note(w: Setup) -> None:
    assert w.post(w.log.body(0, 3))[0] == 200
    assert w.post(w.log.body(3, 7))[0] == 200
    assert w.post(w.log.body(7, 8))[0] == 200
    assert w.state() == (8, w.log.root(8))
    keys = w.archive.keys("cosigned/")
    assert [k.split("/")[2] for k in keys] == ["3", "7", "8"]
    for key in keys:
        note = w.archive.objects[key]
        assert key == cosigned_key(w.log.origin, int(key.split("/")[2]), note)
        open_checkpoint(note, [w.log.signer.verifier()])
        open_note(note, [w.signer.verifier()])
    assert w.archive.keys("evidence/") == []


def test_404_unknown_origin(w: Setup) -> None:
    other = TestLog("other.example/log")
    status, body = w.post(other.body(0, 2))
    assert status == 404 and b"unknown origin" in body


def test_403_without_a_trusted_signature(w: Setup) -> None:
    stranger = Ed25519Signer.generate("stranger.example")
    status, body = w.post(w.log.body(0, 2, note=w.log.checkpoint(2, signers=[stranger])))
    assert status == 403 and b"no verifiable signature" in body
    assert w.state() is None


def test_403_when_a_trusted_signature_is_bad(w: Setup) -> None:
    note = parse_note(w.log.checkpoint(2))
    sig = note.signatures[0]
    bad = sig.line().replace(base64.b64encode(sig.key_id + sig.signature).decode(),
                             base64.b64encode(sig.key_id + bytes(64)).decode())
    status, body = w.post(w.log.body(0, 2, note=(note.text + "\n" + bad).encode()))
    assert status == 403 and b"invalid signature" in body


def test_unknown_signatures_are_ignored_and_not_archived(w: Setup) -> None:
    stranger = Ed25519Signer.generate("stranger.example")
    note = w.log.checkpoint(4, signers=[stranger, w.log.signer])
    assert w.post(w.log.body(0, 4, note=note))[0] == 200
    (key,) = w.archive.keys("cosigned/")
    names = [s.name for s in parse_note(w.archive.objects[key]).signatures]
    assert names == [w.log.origin, w.signer.name]


def test_400_old_size_above_the_checkpoint_size(w: Setup) -> None:
    status, body = w.post(w.log.body(5, 3, proof=()))
    assert status == 400 and b"larger than the checkpoint size" in body


@pytest.mark.parametrize("body", [
    b"",
    b"old 0\n",
    b"old 01\n\n",
    b"new 0\n\n",
    b"old 0\nnot base64!\n\n",
    b"old 0\n\nnot a note\n",
])
def test_400_malformed_bodies(w: Setup, body: bytes) -> None:
    status, text = w.post(body + (w.log.checkpoint(1) if body.endswith(b"\n\n") else b""))
    assert status == 400, text
    assert text.endswith(b"\n") and len(text) > 10


def test_400_for_64_proof_lines(w: Setup) -> None:
    hashes = "".join(base64.b64encode(bytes(32)).decode() + "\n" for _ in range(64))
    status, body = w.post(b"old 1\n" + hashes.encode() + b"\n" + w.log.checkpoint(2))
    assert status == 400 and b"at most 63" in body


def test_409_says_the_size_last_cosigned(w: Setup) -> None:
    reply = add_checkpoint(w.port, w.log.body(3, 5))
    assert (reply.status, reply.content_type, reply.body) == (409, "text/x.tlog.size", b"0\n")
    assert w.post(w.log.body(0, 5))[0] == 200
    for old in (0, 4):
        reply = add_checkpoint(w.port, w.log.body(old, 9))
        assert (reply.status, reply.content_type, reply.body) == (409, "text/x.tlog.size", b"5\n")
    # A checkpoint below the state (a replay) is a 409 too, and changes nothing.
    assert w.post(w.log.body(0, 2))[0] == 409
    assert w.state() == (5, w.log.root(5))


def test_422_bad_consistency_proof_is_refused_and_kept_as_evidence(w: Setup) -> None:
    assert w.post(w.log.body(0, 3))[0] == 200
    status, body = w.post(w.log.body(3, 6, proof=[bytes(32)] * 3))
    assert status == 422 and b"consistency proof" in body
    assert w.state() == (3, w.log.root(3))
    (key,) = w.archive.keys("evidence/")
    doc = json.loads(w.archive.objects[key])
    assert doc["old_size"] == 3 and doc["origin"] == w.log.origin
    open_checkpoint(doc["presented"].encode(), [w.log.signer.verifier()])
    assert parse_note(doc["witnessed"].encode()).text == Checkpoint(
        w.log.origin, 3, w.log.root(3)).to_text()


def test_422_nonempty_proof_from_old_0(w: Setup) -> None:
    status, body = w.post(w.log.body(0, 4, proof=[w.log.root(2)]))
    assert status == 422 and b"want none" in body
    assert w.state() is None and w.archive.objects == {}


def test_422_same_size_another_root_is_a_fork_with_evidence(w: Setup) -> None:
    assert w.post(w.log.body(0, 4))[0] == 200
    fork = w.log.fork()
    status, body = w.post(fork.body(4, 4))
    assert status == 422 and b"forked" in body
    assert w.state() == (4, w.log.root(4))
    (key,) = w.archive.keys("evidence/")
    assert key.split("/")[2] == "4"
    # Showing the same fork again adds nothing.
    assert w.post(fork.body(4, 4))[0] == 422
    assert len(w.archive.keys("evidence/")) == 1


def test_422_size_0_with_a_non_empty_root(w: Setup) -> None:
    status, _ = w.post(w.log.body(0, 0, note=w.log.checkpoint(0, root=w.log.root(1))))
    assert status == 422
    assert w.post(w.log.body(0, 0))[0] == 200
    assert w.state() == (0, SHA256.empty_root())


def test_same_size_same_root_answers_200_and_refreshes_after_refresh_s(w: Setup) -> None:
    first = w.post(w.log.body(0, 6))
    again = w.post(w.log.body(6, 6))
    assert first == again and first[0] == 200
    assert len(w.archive.keys("cosigned/")) == 1
    w.clock.t += 61
    later = w.post(w.log.body(6, 6))
    assert later[0] == 200 and later[1] != first[1]
    assert len(w.archive.keys("cosigned/")) == 2


def test_a_failed_archive_write_fails_the_cosigning(w: Setup) -> None:
    w.archive.fail = True
    status, body = w.post(w.log.body(0, 3))
    assert status == 503 and b"archive" in body
    assert request(w.port, "GET", f"/{origin_hash(w.log.origin)}/checkpoint").status == 503
    # Asking again for the same size gets no cosignature while the archive is down...
    assert w.post(w.log.body(3, 3))[0] == 503
    # ...and once it is back, the note is archived before it is released.
    w.archive.fail = False
    status, line = w.post(w.log.body(3, 3))
    assert status == 200
    (key,) = w.archive.keys("cosigned/")
    assert parse_note(w.archive.objects[key]).signatures[-1].line().encode() == line


def test_get_checkpoint_serves_the_latest_cosigned_note(w: Setup) -> None:
    path = f"/{origin_hash(w.log.origin)}/checkpoint"
    assert request(w.port, "GET", path).status == 404
    assert w.post(w.log.body(0, 3))[0] == 200
    reply = request(w.port, "GET", path)
    assert reply.status == 200 and reply.content_type.startswith("text/plain")
    cp, _ = open_checkpoint(reply.body, [w.log.signer.verifier()])
    assert cp.size == 3
    open_note(reply.body, [w.signer.verifier()])
    assert request(w.port, "GET", f"/{'0' * 64}/checkpoint").status == 404
    assert request(w.port, "GET", "/checkpoint").status == 404


def test_http_level_bounds(w: Setup) -> None:
    assert request(w.port, "PUT", "/add-checkpoint", b"x").status == 405
    assert request(w.port, "POST", "/elsewhere", b"x").status == 404
    too_big = request(w.port, "POST", "/add-checkpoint", b"x",
                      headers={"Content-Length": str(MAX_BODY_SIZE + 1)})
    assert too_big.status == 413
    with socket.create_connection(("127.0.0.1", w.port), timeout=10) as s:
        s.sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 411")
    huge_header = request(w.port, "GET", "/x", headers={f"X-{i}": "y" * 1000 for i in range(20)})
    assert huge_header.status == 431
    assert request(w.port, "GET", "/" + "a" * 2000).status == 414


def test_keep_alive_serves_several_requests_on_one_connection(w: Setup) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", w.port, timeout=10)
    try:
        statuses = [request(w.port, "POST", "/add-checkpoint", body, connection=conn).status
                    for body in (w.log.body(0, 2), w.log.body(0, 3), w.log.body(2, 3))]
    finally:
        conn.close()
    assert statuses == [200, 409, 200]


def test_connections_beyond_the_limit_get_503(tmp_path: Path) -> None:
    log = TestLog()
    witness: Witness = make_witness(tmp_path, [log])
    with served(witness, max_connections=1) as server:
        assert isinstance(server, WitnessHTTPServer)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as held:
            held.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            assert held.recv(100).startswith(b"HTTP/1.1 404")  # its handler is running now
            # The answer is sent before the request is read: the client may see a reset.
            with (socket.create_connection(("127.0.0.1", server.port), timeout=10) as extra,
                  contextlib.suppress(ConnectionResetError)):
                assert extra.recv(100).startswith(b"HTTP/1.1 503 ")
        # Once it is closed, the slot frees up.
        status = 0
        for _ in range(100):
            with contextlib.suppress(ConnectionError):
                if (status := add_checkpoint(server.port, log.body(0, 1)).status) != 503:
                    break
            time.sleep(0.02)
        assert status == 200


def test_a_note_text_the_witness_did_not_sign_is_never_answered_from_cache(w: Setup) -> None:
    assert w.post(w.log.body(0, 2))[0] == 200
    text = Checkpoint(w.log.origin, 2, w.log.root(2), ("extension",)).to_text()
    status, line = w.post(w.log.body(2, 2, note=sign_note(text, [w.log.signer])))
    assert status == 200
    (sig,) = parse_signature_lines(line)
    assert w.signer.verifier().verify(text.encode(), sig.signature)


def test_mutated_bodies_get_a_protocol_status_and_never_change_the_state(w: Setup) -> None:
    assert w.post(w.log.body(0, 5))[0] == 200
    good = w.log.body(5, 9)
    rng = random.Random(4)
    allowed = {200, 400, 403, 404, 409, 422}
    for _ in range(150):
        body = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(3)
            i = rng.randrange(len(body))
            if op == 0:
                body[i] = rng.randrange(256)
            elif op == 1:
                del body[i:i + rng.randint(1, 8)]
            else:
                body[i:i] = bytes([rng.randrange(256)])
        before = w.state()
        status, text = w.post(bytes(body))
        assert status in allowed, (status, text)
        if status != 200:
            assert w.state() == before
