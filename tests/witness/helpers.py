"""Test doubles and builders for the witness tests: a fake clock and archive, a test log whose
trees come from the naive RFC 6962 reference, an HTTP(S) client for the witness API, and
certificate files for TLS (made with ``tests.server.certs``)."""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from auditlog_tlog.tree.checkpoint import Checkpoint
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.errors import StorageError
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer, NoteSigner
from auditlog_tlog.tree.note import sign_note
from auditlog_tlog.tree.witness_protocol import AddCheckpointRequest, format_add_checkpoint
from auditlog_tlog.witness.archive import Archive
from auditlog_tlog.witness.core import Witness, WitnessedLog
from auditlog_tlog.witness.httpd import WitnessHTTPServer
from auditlog_tlog.witness.state import FileStateStore, StateStore
from tests.clock import FakeClock
from tests.server.certs import CA
from tests.tree import reference

ORIGIN = "test.example/log"
WITNESS_NAME = "witness.example/w1"
NOW = 1_700_000_000  # the FakeClock's start


@dataclass
class MemoryArchive:
    """An Archive in a dict; ``fail`` makes every put raise like an unreachable store."""

    objects: dict[str, bytes] = field(default_factory=dict)
    fail: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, key: str, data: bytes) -> bool:
        if self.fail:
            raise StorageError("the archive is down")
        with self.lock:
            if key in self.objects:
                return False
            self.objects[key] = data
            return True

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))


class TestLog:
    """A log's key and trees: leaf i is reference leaf i, or, with ``salt``, a forked leaf."""

    __test__ = False

    def __init__(self, origin: str = ORIGIN, signer: Ed25519Signer | None = None,
                 salt: bytes = b"") -> None:
        self.origin = origin
        self.signer = signer or Ed25519Signer.generate(origin)
        self.salt = salt

    def fork(self, salt: bytes = b"fork") -> TestLog:
        """The same key over another tree."""
        return TestLog(self.origin, self.signer, salt)

    def leaves(self, n: int) -> list[bytes]:
        if not self.salt:
            return reference.leaves(SHA256, n)
        return [SHA256.hash_leaf(self.salt + i.to_bytes(8, "big")) for i in range(n)]

    def root(self, n: int) -> bytes:
        return reference.mth(SHA256, self.leaves(n))

    def proof(self, m: int, n: int) -> tuple[bytes, ...]:
        return () if m == 0 else tuple(reference.proof(SHA256, m, self.leaves(n)))

    def checkpoint(self, n: int, root: bytes | None = None,
                   signers: Sequence[NoteSigner] | None = None) -> bytes:
        text = Checkpoint(self.origin, n, self.root(n) if root is None else root).to_text()
        return sign_note(text, list(signers) if signers is not None else [self.signer])

    def body(self, old: int, n: int, proof: Sequence[bytes] | None = None,
             note: bytes | None = None) -> bytes:
        proof = self.proof(old, n) if proof is None else tuple(proof)
        note = self.checkpoint(n) if note is None else note
        return format_add_checkpoint(AddCheckpointRequest(old, tuple(proof), note))

    def witnessed(self) -> WitnessedLog:
        return WitnessedLog(self.origin, (self.signer.verifier(),))


def make_witness(
    state_dir: Path, logs: Sequence[TestLog], archive: Archive | None = None,
    clock: FakeClock | None = None, state: StateStore | None = None,
    signer: CosignatureSigner | None = None, refresh_s: float = 60.0,
    signers: Sequence[CosignatureSigner] = (),
) -> Witness:
    return Witness(
        signers or (signer or CosignatureSigner.generate(WITNESS_NAME),),
        [log.witnessed() for log in logs],
        state or FileStateStore(state_dir), archive if archive is not None else MemoryArchive(),
        clock or FakeClock(), refresh_s,
    )


@contextmanager
def served(witness: Witness, **kwargs: object) -> Iterator[WitnessHTTPServer]:
    server = WitnessHTTPServer(("127.0.0.1", 0), witness, **kwargs)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None,
            connection: http.client.HTTPConnection | None = None) -> Reply:
    """One HTTP request to 127.0.0.1:port (on ``connection`` if given, to test keep-alive)."""
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return Reply(resp.status, resp.getheader("Content-Type", ""), data,
                     {k.lower(): v for k, v in resp.getheaders()})
    finally:
        if connection is None:
            conn.close()


def add_checkpoint(port: int, body: bytes) -> Reply:
    return request(port, "POST", "/add-checkpoint", body)


@dataclass(frozen=True)
class Pki:
    """PEM files in one folder: a CA; a server certificate for 127.0.0.1 and localhost; a
    client certificate from that CA; and one from another CA (a stranger)."""

    dir: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path
    stranger_key: Path

    def client_context(self, client: str | None = "client") -> ssl.SSLContext:
        """A client context trusting the CA, presenting ``client`` (or stranger, or none)."""
        context = ssl.create_default_context(cafile=self.ca)
        if client is not None:
            context.load_cert_chain(getattr(self, f"{client}_cert"), getattr(self, f"{client}_key"))
        return context


def write_pki(directory: Path, client_name: str = "log.internal") -> Pki:
    ca = CA()
    (directory / "ca.pem").write_bytes(ca.pem)
    server = ca.issue("witness.internal", server=True).write(directory, "server")
    client = ca.issue(client_name).write(directory, "client")
    stranger = CA("another CA").issue(client_name).write(directory, "stranger")
    return Pki(directory, directory / "ca.pem", *server, *client, *stranger)


def https_request(port: int, context: ssl.SSLContext, method: str, path: str,
                  body: bytes | None = None) -> Reply:
    """One HTTPS request to 127.0.0.1:port."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        data = resp.read()
        return Reply(resp.status, resp.getheader("Content-Type", ""), data,
                     {k.lower(): v for k, v in resp.getheaders()})
    finally:
        conn.close()
