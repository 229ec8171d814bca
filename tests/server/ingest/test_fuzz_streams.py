"""What a hostile or broken sender does on the stream listeners (RELP, syslog over TCP) of a
real server: nothing it is told was stored is missing, and what is refused adds no entry."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.ingest.sink import IngestSink
from auditlog_tlog.server.ingest.syslog_config import SyslogListener
from auditlog_tlog.server.ingest.syslog_framing import FRAME_S
from auditlog_tlog.server.ingest.syslog_server import SyslogServer
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.security import Authorizer, Principal
from auditlog_tlog.tree.errors import MalformedError, PushbackError
from tests.clock import FakeClock
from tests.server.ingest.producers import listener_port, server_config
from tests.servers import RunningServer, running

LOG = "streams.example/log"
OFFERS = b"relp_version=0\nrelp_software=test\ncommands=syslog"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("streams")
    config = server_config(directory, f"""
[[log]]
origin = "{LOG}"
[[ingest.syslog]]
listen = "127.0.0.1:0"
transport = "relp"
log = "{LOG}"
max_message_bytes = 512
max_connections = 4
max_connections_per_peer = 2
insecure = true
""")
    yield from running(config)


def size_of(server: RunningServer) -> int:
    return int(server.stub().GetLogInfo(pb.GetLogInfoRequest(log=LOG)).size)


def frame(txnr: int, command: bytes, data: bytes) -> bytes:
    return b"%d %s %d %s\n" % (txnr, command, len(data), data)


def relp(server: RunningServer, source: str = "127.0.0.1") -> socket.socket:
    """A RELP session from ``source`` (any address of 127/8 reaches the server), opened."""
    conn = socket.create_connection(("127.0.0.1", listener_port(server, "relp")), timeout=20,
                                    source_address=(source, 0))
    conn.sendall(frame(1, b"open", OFFERS))
    assert conn.recv(4096).startswith(b"1 rsp ")
    return conn


def closed(conn: socket.socket) -> bool:
    """Whether the server closed ``conn`` (it resets one with unread bytes)."""
    try:
        return conn.recv(100) == b""
    except ConnectionResetError:
        return True


def test_a_txnr_reused_for_other_data_is_refused_not_acknowledged(server: RunningServer) -> None:
    # The window of answered TXNRs answered the second message "200 OK" from memory and
    # never stored it: an acknowledged message lost.
    before = size_of(server)
    first, other = b"<13>1 - h app - - - first of txnr 2", b"<13>1 - h app - - - other, txnr 2"
    with relp(server) as conn:
        conn.sendall(frame(2, b"syslog", first))
        assert conn.recv(4096) == b"2 rsp 6 200 OK\n"
        conn.sendall(frame(2, b"syslog", other))
        reply = conn.recv(4096)
        assert reply.startswith(b"2 rsp ") and b" 500 TXNR 2 was acknowledged for other data" in reply
        conn.sendall(frame(2, b"syslog", first))  # a true redelivery is still answered from memory
        assert conn.recv(4096) == b"2 rsp 6 200 OK\n"
        conn.sendall(frame(3, b"syslog", other))  # under a new TXNR it is stored
        assert conn.recv(4096) == b"3 rsp 6 200 OK\n"
    assert size_of(server) == before + 2


def test_one_address_cannot_hold_every_connection(server: RunningServer) -> None:
    # A sender holding max_connections connections (idle, or a byte at a time: slowloris)
    # locked every other sender out; now it gets max_connections_per_peer of them.
    port = listener_port(server, "relp")
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(socket.create_connection(
            ("127.0.0.1", port), timeout=20, source_address=("127.0.0.2", 0))) for _ in range(4)]
        for conn in held:
            conn.sendall(b"1")  # a frame begun, never ended
        assert all(closed(conn) for conn in held[2:])  # closed at once
        before = size_of(server)
        with relp(server) as conn:
            conn.sendall(frame(2, b"syslog", b"<13>1 - h app - - - past the slowloris"))
            assert conn.recv(4096) == b"2 rsp 6 200 OK\n"
        assert size_of(server) == before + 1
    for _ in range(100):  # its connections closed, the address is served once the server saw it
        with contextlib.suppress(ConnectionError, AssertionError), relp(server, "127.0.0.2") as conn:
            conn.sendall(frame(2, b"syslog", b"<13>1 - h app - - - from .2 again"))
            assert conn.recv(4096) == b"2 rsp 6 200 OK\n"
            break
        time.sleep(0.05)
    else:
        raise AssertionError("127.0.0.2 is still refused after its connections closed")


_PIECES = st.one_of(
    st.sampled_from([b"1 open %d %s\n" % (len(OFFERS), OFFERS), b"2 syslog 5 <13>x\n",
                     b"3 syslog 3 abc\n", b"2 close 0\n", b"0 syslog 1 x\n", b"01 syslog 1 x\n",
                     b"999999999 syslog 5 <13>y\n", b"1000000000 syslog 1 x\n", b"4 syslog 999999999 ",
                     b"4 syslog -1 x\n", b"4 rsp 6 200 OK\n", b"4 starttls 0\n", b"\n", b" ", b"4 ",
                     b"4 syslog 600 " + b"x" * 600 + b"\n", b"5 syslog 2 \xff\xfe\n"]),
    st.binary(max_size=40),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_PIECES, max_size=8))
def test_any_relp_stream_gets_well_formed_answers_and_the_listener_goes_on(
        server: RunningServer, pieces: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", listener_port(server, "relp")), timeout=20) as conn:
        conn.sendall(b"".join(pieces))
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while piece := conn.recv(65536):
                answer += piece
    assert re.fullmatch(rb"(\d+ rsp \d+( \d{3} [^\n]*)?\n(relp_[^\n]*\n|commands=[^\n]*\n)*"
                        rb"|0 serverclose 0\n)*", answer), answer
    with relp(server) as conn:
        conn.sendall(b"2 close 0\n")
        assert conn.recv(100) == b"2 rsp 0\n"


class _Taking(IngestSink):
    """A sink that takes every entry at once, and keeps them."""

    def __init__(self) -> None:
        super().__init__({}, Authorizer((), frozenset()), Metrics())
        self.entries: list[bytes] = []

    async def append_entries(self, principal: Principal | None, log: str, transport: str,
                             entries: Sequence[bytes | MalformedError],
                             wait: Callable[[PushbackError], Awaitable[None]] | None = None,
                             ) -> list[MalformedError | None]:
        self.entries += [e for e in entries if isinstance(e, bytes)]
        return [None] * len(entries)


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):  # the server's reads are real I/O on loopback
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def test_a_frame_dribbled_a_byte_a_second_ends_its_connection_after_frame_s() -> None:
    # A sender that sent a frame a byte at a time held its connection (and the bytes so far)
    # for as long as it kept sending: with max_message_bytes of 64 KiB, 18 hours.
    async def dribble(writer: asyncio.StreamWriter, clock: FakeClock, seconds: int) -> None:
        for _ in range(seconds):
            await asyncio.sleep(0.01)  # the server is waiting in its read again
            clock.advance(1)
            writer.write(b"x")
            await writer.drain()

    async def scenario() -> None:
        clock, sink = FakeClock(), _Taking()
        server = SyslogServer(SyslogListener("127.0.0.1:0", "tcp", LOG), sink, clock)
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"<13>1 - h app - - - whole\n<13>1 - h app - - - slow ")
            await _until(lambda: len(sink.entries) == 1)
            await dribble(writer, clock, int(FRAME_S) - 2)  # within FRAME_S: the frame is taken
            writer.write(b"\n<13>1 - h app - - - slower ")
            await _until(lambda: len(sink.entries) == 2)
            await dribble(writer, clock, int(FRAME_S) + 2)
            assert await asyncio.wait_for(reader.read(100), 10) == b""  # closed by the server
            assert len(sink.entries) == 2
            writer.close()
        finally:
            await server.stop()

    asyncio.run(scenario())
