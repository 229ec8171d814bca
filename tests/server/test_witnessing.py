"""The log side of witnessing: the [[log.witness]] config, attaching verified cosignatures
(server/cosigning.py), pushing to tlog-witness servers (server/pushing.py: 409 learning, backoff,
timeouts, TLS), and the AddCosignature RPC."""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.proto import auditlog_pb2_grpc as pb_grpc
from auditlog_tlog.server.app import LogServer
from auditlog_tlog.server.config import LogConfig, parse_config
from auditlog_tlog.server.cosigning import LogWitnesses
from auditlog_tlog.server.log_tables import WitnessConfig
from auditlog_tlog.server.pushing import TICK_S, Post, WitnessPusher, http_post
from auditlog_tlog.server.signal import Signal
from auditlog_tlog.tree.checkpoint import Checkpoint
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.errors import MalformedError, NotFoundError, PermissionDeniedError, VerificationError
from auditlog_tlog.tree.note import parse_note
from auditlog_tlog.tree.witness_protocol import parse_add_checkpoint
from auditlog_tlog.witness.config import TLSConfig
from auditlog_tlog.witness.core import Witness
from auditlog_tlog.witness.tls import server_context
from tests.clock import START, FakeClock
from tests.witness.helpers import (
    NOW,
    MemoryArchive,
    Pki,
    TestLog,
    make_witness,
    served,
    write_pki,
)

W1 = CosignatureSigner.generate("witness.example/w1")
W2 = CosignatureSigner.generate("witness.example/w2")


# -- config --------------------------------------------------------------------------------------
def _log_toml(extra: str) -> str:
    return f'[[log]]\norigin = "test.example/log"\n{extra}\n'


def test_config_reads_witness_tables_and_the_quorum(tmp_path: Path) -> None:
    text = _log_toml(f'witness_quorum = 1\n[[log.witness]]\nvkey = "{W1.vkey()}"\n'
                     f'url = "http://127.0.0.1:7700"\ntimeout_s = 3\n'
                     f'[[log.witness]]\nvkey = "{W2.vkey()}"\n')
    (log,) = parse_config(text, tmp_path).logs
    assert log.witnesses == (WitnessConfig(W1.vkey(), "http://127.0.0.1:7700", 3.0),
                             WitnessConfig(W2.vkey()))
    assert log.quorum == 1
    (default,) = parse_config(_log_toml(f'[[log.witness]]\nvkey = "{W1.vkey()}"'), tmp_path).logs
    assert default.quorum == 1 and default.witness_quorum is None
    assert parse_config(_log_toml(""), tmp_path).logs[0].quorum == 0


def test_config_reads_the_tls_settings_of_a_witness(tmp_path: Path) -> None:
    text = _log_toml(f'[[log.witness]]\nvkey = "{W1.vkey()}"\nurl = "https://w.example:7700"\n'
                     'ca_file = "tls/ca.pem"\nclient_cert_file = "/etc/log.pem"\n'
                     'client_key_file = "tls/log.key"\n'
                     f'[[log.witness]]\nvkey = "{W2.vkey()}"\nurl = "http://w2.example:7700"\n'
                     'insecure = true\n')
    (log,) = parse_config(text, tmp_path).logs
    assert log.witnesses == (
        WitnessConfig(W1.vkey(), "https://w.example:7700", ca_file=tmp_path / "tls/ca.pem",
                      client_cert_file=Path("/etc/log.pem"),
                      client_key_file=tmp_path / "tls/log.key"),
        WitnessConfig(W2.vkey(), "http://w2.example:7700", insecure=True),
    )
    for url in ("http://127.0.0.1:7700", "http://localhost:7700", "http://[::1]:7700"):
        WitnessConfig(W1.vkey(), url)  # plain http to loopback needs no insecure


@pytest.mark.parametrize("extra, problem", [
    (f'witness_quorum = 2\n[[log.witness]]\nvkey = "{W1.vkey()}"', "want 0..1"),
    (f'witness_quorum = true\n[[log.witness]]\nvkey = "{W1.vkey()}"', "witness_quorum"),
    ('[[log.witness]]\nurl = "http://x"', "vkey is required"),
    ('[[log.witness]]\nvkey = "nope"', "vkey"),
    (f'[[log.witness]]\nvkey = "{TestLog().signer.vkey()}"', "want 0x04"),
    (f'[[log.witness]]\nvkey = "{W1.vkey()}"\nurl = "ftp://x"', "http"),
    (f'[[log.witness]]\nvkey = "{W1.vkey()}"\nport = 1', "unknown keys"),
    (f'[[log.witness]]\nvkey = "{W1.vkey()}"\n[[log.witness]]\nvkey = "{W1.vkey()}"', "twice"),
    (f'[[log.witness]]\nvkey = "{W1.vkey()}"\nurl = "http://w.example:7700"',
     "plain http only to a loopback host"),
    (f'[[log.witness]]\nvkey = "{W1.vkey()}"\nurl = "http://0.0.0.0:7700"', "loopback"),
    (f'[[log.witness]]\nvkey = "{W1.vkey()}"\nurl = "http://127.0.0.1:1"\nca_file = "c"',
     "want an https:// url"),
    (f'[[log.witness]]\nvkey = "{W1.vkey()}"\nurl = "https://w:1"\nclient_cert_file = "c"',
     "needs both"),
    (f'[[log.witness]]\nvkey = "{W1.vkey()}"\nurl = "https://w:1"\nca_file = 3', "path string"),
    (f'[[log.witness]]\nvkey = "{W1.vkey()}"\nurl = "https://w:1"\ninsecure = 1', "insecure"),
])
def test_config_errors_say_what_is_wrong(tmp_path: Path, extra: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_config(_log_toml(extra), tmp_path)


# -- attaching -----------------------------------------------------------------------------------
class FakeStore:
    """A server.cosigning.CheckpointStore (and the pusher's reader) over a reference tree."""

    def __init__(self, log: TestLog, size: int) -> None:
        self.log, self.origin = log, log.origin
        self.notes: dict[int, bytes] = {}
        self.grow(size)

    def grow(self, size: int) -> None:
        self.size = self.checkpoint_size = size
        self.notes[size] = self.log.checkpoint(size)

    def checkpoint(self, size: int | None = None) -> bytes | None:
        return self.notes.get(self.checkpoint_size if size is None else size)

    def consistency_proof(self, size1: int, size2: int) -> tuple[bytes, ...]:
        return self.log.proof(size1, size2)

    def store_checkpoint(self, size: int, note: bytes) -> None:
        self.notes[size] = note


def _config(*witnesses: WitnessConfig, interval: float = 300.0) -> LogConfig:
    return LogConfig("test.example/log", Path("unused"), witnesses=witnesses,
                     witness_interval_s=interval)


def _line(signer: CosignatureSigner, log: TestLog, size: int, t: int = NOW) -> bytes:
    return signer.cosignature_line(Checkpoint(log.origin, size, log.root(size)).to_text(), t)


def test_attach_verifies_and_keeps_the_newest_line_per_witness() -> None:
    log = TestLog()
    store = FakeStore(log, 4)
    witnesses = LogWitnesses(_config(WitnessConfig(W1.vkey()), WitnessConfig(W2.vkey())))
    attach = witnesses.attach
    assert attach(store, 4, _line(W1, log, 4)) == [W1.name]
    assert attach(store, 4, _line(W2, log, 4) + _line(W1, log, 4, NOW + 5)) == [W2.name, W1.name]
    assert attach(store, 4, _line(W1, log, 4, NOW - 5)) == [W2.name, W1.name]
    sigs = parse_note(store.notes[4]).signatures
    assert [s.name for s in sigs] == [log.origin, W2.name, W1.name]
    assert int.from_bytes(sigs[2].signature[:8], "big") == NOW + 5
    assert witnesses.attached(store.notes[4]) == [W2.name, W1.name]


def test_attach_refuses_what_it_cannot_verify() -> None:
    log = TestLog()
    store = FakeStore(log, 4)
    before = store.notes[4]
    witnesses = LogWitnesses(_config(WitnessConfig(W1.vkey())))
    attach = witnesses.attach
    with pytest.raises(PermissionDeniedError, match="not a witness"):
        attach(store, 4, _line(W2, log, 4))
    with pytest.raises(VerificationError, match="does not verify"):
        attach(store, 4, _line(W1, log, 3))
    with pytest.raises(NotFoundError):
        attach(store, 9, _line(W1, log, 9))
    with pytest.raises(MalformedError):
        attach(store, 4, b"not a signature line\n")
    with pytest.raises(MalformedError, match="at most"):
        attach(store, 4, _line(W1, log, 4) * 200)
    with pytest.raises(PermissionDeniedError, match="no witnesses"):
        LogWitnesses(_config()).attach(store, 4, _line(W1, log, 4))
    assert store.notes[4] == before


def test_attach_keeps_the_known_line_of_a_witness_rotating_its_key() -> None:
    log = TestLog()
    store = FakeStore(log, 4)
    rotated = CosignatureSigner.generate(W1.name)  # W1's next key, unknown to this log
    witnesses = LogWitnesses(_config(WitnessConfig(W1.vkey())))
    attach = witnesses.attach
    assert attach(store, 4, _line(rotated, log, 4) + _line(W1, log, 4)) == [W1.name]
    assert [s.key_id for s in parse_note(store.notes[4]).signatures[1:]] == [W1.key_id]
    with pytest.raises(VerificationError):  # a known key's bad line still fails the call
        attach(store, 4, _line(rotated, log, 4) + _line(W1, log, 3))
    with pytest.raises(PermissionDeniedError, match="not a witness"):
        attach(store, 4, _line(rotated, log, 4))


def test_wait_for_quorum_returns_once_k_witnesses_have_cosigned() -> None:
    log = TestLog()
    store = FakeStore(log, 4)
    witnesses = LogWitnesses(_config(WitnessConfig(W1.vkey()), WitnessConfig(W2.vkey())))
    attach = witnesses.attach
    wait = witnesses.wait_for_quorum
    assert wait(store, 4, 0.05) is None
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait, store, 4, 10)
        attach(store, 4, _line(W1, log, 4))
        time.sleep(0.05)
        assert not waiting.done()  # 1 of 2 is not enough
        attach(store, 4, _line(W2, log, 4))
        found = waiting.result(10)
    assert found is not None
    size, note = found
    assert size == 4 and witnesses.attached(note) == [W1.name, W2.name]
    assert wait(store, 5, 0.05) is None
    store.grow(6)
    assert LogWitnesses(_config()).wait_for_quorum(store, 5, 0) == (6, store.notes[6])


# -- pushing -------------------------------------------------------------------------------------
@dataclass
class FakeRuntime:
    """A log as the pusher sees it (server.pushing.PushedLog); remembers witness sizes."""

    config: LogConfig
    store: FakeStore
    witnesses: LogWitnesses
    witness_sizes: dict[str, int] = field(default_factory=dict)
    signed: Signal = field(default_factory=Signal)

    async def add_cosignatures(self, size: int, lines: bytes) -> list[str]:
        return self.witnesses.attach(self.store, size, lines)

    async def report_witness_size(self, witness: str, size: int) -> None:
        self.witness_sizes[witness] = size


def _runtime(log: TestLog, size: int, *witnesses: WitnessConfig, interval: float = 60.0) -> FakeRuntime:
    config = _config(*witnesses, interval=interval)
    return FakeRuntime(config, FakeStore(log, size), LogWitnesses(config))


def _pushing(runtime: FakeRuntime, body: Callable[[WitnessPusher], Awaitable[None]],
             post: Post = http_post, clock: FakeClock | None = None) -> None:
    async def main() -> None:
        pusher = WitnessPusher({runtime.config.origin: runtime}, post, clock)
        pusher.start()
        try:
            await body(pusher)
        finally:
            await pusher.stop()

    asyncio.run(main())


async def _until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[tuple[Witness, str, TestLog]]:
    log = TestLog()
    w = make_witness(tmp_path, [log], MemoryArchive(), signer=W1)
    with served(w) as server:
        yield w, f"http://127.0.0.1:{server.port}", log


def test_push_learns_the_size_from_409_and_pushes_new_checkpoints_on_demand(
    witness: tuple[Witness, str, TestLog],
) -> None:
    w, url, log = witness
    w.process(parse_add_checkpoint(log.body(0, 5)))  # cosigned before this log process started
    runtime = _runtime(log, 8, WitnessConfig(W1.vkey(), url))
    statuses: list[tuple[int, int]] = []

    def post(url: str, body: bytes, timeout: float,
             context: ssl.SSLContext | None = None) -> tuple[int, str, bytes]:
        status, content_type, data = http_post(url, body, timeout, context)
        statuses.append((parse_add_checkpoint(body).old_size, status))
        return status, content_type, data

    async def body(pusher: WitnessPusher) -> None:
        await _until(lambda: runtime.witnesses.attached(runtime.store.notes[8]) == [W1.name])
        assert statuses == [(0, 409), (5, 200)]
        runtime.store.grow(13)
        await _until(lambda: runtime.witnesses.attached(runtime.store.notes[13]) == [W1.name], 2)
        assert statuses[-1] == (8, 200)

    _pushing(runtime, body, post)
    state = w.state_of(log.origin)
    assert state is not None and state.size == 13


def test_push_follows_a_signature_at_once_without_waiting_for_the_tick(
    witness: tuple[Witness, str, TestLog],
) -> None:
    _, url, log = witness
    clock = FakeClock()  # never advanced: only the signed signal can wake the pusher
    runtime = _runtime(log, 4, WitnessConfig(W1.vkey(), url))

    def cosigned(size: int) -> bool:  # the note is read each time: the cosigned one replaces it
        return runtime.witnesses.attached(runtime.store.notes[size]) == [W1.name]

    async def body(pusher: WitnessPusher) -> None:
        await _until(partial(cosigned, 4))
        for size in (9, 15):
            await _until(lambda: clock.sleeping == 1)  # the pusher waits for its next tick
            runtime.store.grow(size)
            runtime.signed.fire()
            await _until(partial(cosigned, size))
        assert clock.t == START  # no tick ever passed

    _pushing(runtime, body, clock=clock)


def test_push_reports_a_witness_ahead_of_the_log(witness: tuple[Witness, str, TestLog]) -> None:
    w, url, log = witness
    w.process(parse_add_checkpoint(log.body(0, 20)))
    runtime = _runtime(log, 8, WitnessConfig(W1.vkey(), url))

    async def body(pusher: WitnessPusher) -> None:
        progress = pusher.progress[(log.origin, W1.vkey())]
        await _until(lambda: progress.failures >= 1)
        assert progress.known_size == 20 and progress.cosigned_size == -1
        # The witness's size is an anchor: the log is told, and halts (tests/server/test_anchors).
        assert list(runtime.witness_sizes.values()) == [20]

    _pushing(runtime, body)


def test_push_backs_off_exponentially_while_a_witness_is_down() -> None:
    clock = FakeClock()
    calls: list[float] = []

    def down(url: str, body: bytes, timeout: float,
             context: ssl.SSLContext | None = None) -> tuple[int, str, bytes]:
        calls.append(clock.monotonic())
        raise ConnectionRefusedError("connection refused")

    runtime = _runtime(TestLog(), 3, WitnessConfig(W1.vkey(), "http://127.0.0.1:9"), interval=60)

    async def body(pusher: WitnessPusher) -> None:
        for _ in range(16):  # 1.6 s of the pusher's clock, one tick at a time
            await _until(lambda: clock.sleeping == 1)
            clock.advance(TICK_S)

    _pushing(runtime, body, down, clock)
    # Ticks come every 0.1 s (16 of them); with backoff (0.25 s doubling, jittered) only a
    # handful of attempts are made, at least 0.2 s apart.
    assert 2 <= len(calls) <= 5
    assert all(b - a >= 0.2 for a, b in itertools.pairwise(calls))


def test_a_hanging_witness_times_out_without_holding_up_another(
    witness: tuple[Witness, str, TestLog],
) -> None:
    _, url, log = witness
    with socket.socket() as hanging:  # accepts connections (backlog) and never answers
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(8)
        slow = WitnessConfig(W2.vkey(), f"http://127.0.0.1:{hanging.getsockname()[1]}", 0.3)
        runtime = _runtime(log, 6, slow, WitnessConfig(W1.vkey(), url))

        async def body(pusher: WitnessPusher) -> None:
            await _until(lambda: runtime.witnesses.attached(runtime.store.notes[6]) == [W1.name], 2)
            await _until(lambda: pusher.progress[(log.origin, W2.vkey())].failures >= 1, 5)

        _pushing(runtime, body)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return write_pki(tmp_path_factory.mktemp("pki"))


def test_push_to_an_https_witness_that_requires_mutual_tls(tmp_path: Path, pki: Pki) -> None:
    log = TestLog()
    w = make_witness(tmp_path, [log], MemoryArchive(), signer=W1)
    context = server_context(TLSConfig(pki.server_cert, pki.server_key, pki.ca))
    with served(w, ssl_context=context) as server:
        url = f"https://127.0.0.1:{server.port}"
        anonymous = _runtime(log, 4, WitnessConfig(W1.vkey(), url, ca_file=pki.ca))

        async def refused(pusher: WitnessPusher) -> None:
            await _until(lambda: pusher.progress[(log.origin, W1.vkey())].failures >= 1)

        _pushing(anonymous, refused)  # no client certificate: the handshake fails
        assert w.state_of(log.origin) is None
        runtime = _runtime(log, 6, WitnessConfig(
            W1.vkey(), url, ca_file=pki.ca, client_cert_file=pki.client_cert,
            client_key_file=pki.client_key))

        async def cosigned(pusher: WitnessPusher) -> None:
            await _until(lambda: runtime.witnesses.attached(runtime.store.notes[6]) == [W1.name])

        _pushing(runtime, cosigned)
    state = w.state_of(log.origin)
    assert state is not None and state.size == 6


def test_a_client_key_others_can_read_stops_the_log(tmp_path: Path, pki: Pki) -> None:
    key = tmp_path / "client.key"
    key.write_bytes(pki.client_key.read_bytes())
    key.chmod(0o644)
    config = WitnessConfig(W1.vkey(), "https://127.0.0.1:1", ca_file=pki.ca,
                           client_cert_file=pki.client_cert, client_key_file=key)
    log = TestLog()
    with pytest.raises(PermissionError, match=re.escape(f"run 'chmod 600 {key}'")):
        WitnessPusher({log.origin: _runtime(log, 1, config)})
    with pytest.raises(ValueError, match="cannot load its TLS files"):
        WitnessPusher({log.origin: _runtime(log, 1, WitnessConfig(
            W1.vkey(), "https://127.0.0.1:1", ca_file=tmp_path / "missing.pem"))})


# -- the AddCosignature RPC on a real server -----------------------------------------------------
def test_add_cosignature_rpc_attaches_and_get_checkpoint_names_the_witnesses(tmp_path: Path) -> None:
    key_file = tmp_path / "log.key"
    log = TestLog()
    key_file.write_text(log.signer.skey() + "\n")
    key_file.chmod(0o600)
    text = ('[server]\nlisten = "127.0.0.1:0"\nmetrics_listen = ""\n'
            + _log_toml(f'key_file = "{key_file}"\nwitness_quorum = 1\n'
                        f'[[log.witness]]\nvkey = "{W1.vkey()}"\n[[log.witness]]\nvkey = "{W2.vkey()}"'))
    config = parse_config(text, tmp_path)

    async def main() -> None:
        server = LogServer(config)
        await server.start()
        try:
            await server.logs[log.origin].sequencer().append([b"a", b"b", b"c"], False)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                stub = pb_grpc.LogStub(channel)
                info = await stub.GetLogInfo(pb.GetLogInfoRequest(log=log.origin))
                assert list(info.witness_keys) == [W1.vkey(), W2.vkey()]
                assert info.witness_quorum == 1
                got = await stub.GetCheckpoint(pb.GetCheckpointRequest(log=log.origin))
                assert list(got.witnesses) == []
                cp_text = parse_note(got.checkpoint).text
                line = W2.cosignature_line(cp_text, NOW)
                added = await stub.AddCosignature(
                    pb.AddCosignatureRequest(log=log.origin, size=got.size, signatures=line))
                assert list(added.witnesses) == [W2.name]
                got = await stub.GetCheckpoint(pb.GetCheckpointRequest(log=log.origin))
                assert list(got.witnesses) == [W2.name]
                stranger = CosignatureSigner.generate("stranger.example")
                for signatures, size, code in (
                    (stranger.cosignature_line(cp_text, NOW), got.size, "PERMISSION_DENIED"),
                    (W1.cosignature_line(cp_text, NOW), got.size + 1, "NOT_FOUND"),
                    ("— w not-base64\n".encode(), got.size, "INVALID_ARGUMENT"),
                    (W1.cosignature_line(cp_text + "x\n", NOW), got.size, "FAILED_PRECONDITION"),
                ):
                    with pytest.raises(grpc.aio.AioRpcError) as info_:
                        await stub.AddCosignature(pb.AddCosignatureRequest(
                            log=log.origin, size=size, signatures=signatures))
                    assert info_.value.code().name == code
        finally:
            await server.stop()

    asyncio.run(main())
