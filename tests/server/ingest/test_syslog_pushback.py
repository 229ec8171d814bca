"""In process, on a fake clock: a full queue is waited out and the batch retried; the year of
an RFC 3164 timestamp is the injected clock's; the UDP queue is bounded by datagrams and bytes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from auditlog_tlog.common.clock import SystemClock
from auditlog_tlog.server.app import LogServer
from auditlog_tlog.server.config import parse_config
from auditlog_tlog.server.ingest.record import IngestRecord, decode_entry, encode_entry
from auditlog_tlog.server.ingest.sink import IngestSink
from auditlog_tlog.server.ingest.syslog_config import SyslogListener
from auditlog_tlog.server.ingest.syslog_server import MAX_UDP_QUEUE, SyslogServer
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.security import Authorizer, Principal, hash_token
from auditlog_tlog.tree.errors import MalformedError, PushbackError
from tests.clock import FakeClock

LOG = "test.example/log"


class FullThenFree(IngestSink):
    """A sink whose log is full for the first ``refusals`` appends, then takes everything."""

    def __init__(self, refusals: int) -> None:
        super().__init__({}, Authorizer((), frozenset()), Metrics())
        self.refusals = refusals
        self.appended: list[tuple[str, IngestRecord]] = []

    async def append_entries(self, principal: Principal | None, log: str, transport: str,
                             entries: Sequence[bytes | MalformedError],
                             wait: Callable[[PushbackError], Awaitable[None]] | None = None,
                             ) -> list[MalformedError | None]:
        while self.refusals:  # waited out as the real sink does, with the listener's ``wait``
            self.refusals -= 1
            refused = PushbackError("the queue is full", retry_after=0.5)
            if wait is None:
                raise refused
            await wait(refused)
        self.appended += [(log, decode_entry(e)) for e in entries if isinstance(e, bytes)]
        return [None] * len(entries)


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


def test_a_full_log_is_waited_out_on_the_clock_and_the_batch_retried() -> None:
    async def scenario() -> None:
        clock = FakeClock()  # 2023-11-14 in UTC
        sink = FullThenFree(refusals=2)
        server = SyslogServer(SyslogListener("127.0.0.1:0", "tcp", LOG), sink, clock)
        task = asyncio.create_task(server.ingest(None, [b"<13>Nov 14 22:13:20 h app: x"]))
        await _until(lambda: clock.sleeping == 1)
        clock.advance(0.4)
        await _until(lambda: clock.sleeping == 1)
        assert not task.done() and sink.refusals == 1
        clock.advance(0.1)  # the first retry: refused again, sleeps again
        await _until(lambda: clock.sleeping == 1 and sink.refusals == 0)
        clock.advance(0.5)
        assert await task == [""]
        ((log, record),) = sink.appended
        assert log == LOG and record.fields.time == "2023-11-14T22:13:20Z"

    asyncio.run(scenario())


class Gate(IngestSink):
    """A sink whose appends wait until ``gate`` is set, then take everything."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__({}, Authorizer((), frozenset()), metrics)
        self.gate = asyncio.Event()
        self.calls = 0
        self.stored: list[bytes] = []

    async def append_entries(self, principal: Principal | None, log: str, transport: str,
                             entries: Sequence[bytes | MalformedError],
                             wait: Callable[[PushbackError], Awaitable[None]] | None = None,
                             ) -> list[MalformedError | None]:
        self.calls += 1
        await self.gate.wait()
        self.stored += [decode_entry(e).record["msg"].encode() for e in entries
                        if isinstance(e, bytes)]
        return [None] * len(entries)


def _datagram(i: int, size: int) -> bytes:
    head = f"<13>Nov 14 22:13:20 h app: {i} ".encode()
    return head + b"x" * (size - len(head))


def test_the_udp_queue_is_bounded_by_bytes_and_drops_what_does_not_fit() -> None:
    async def scenario() -> None:
        metrics = Metrics()
        sink = Gate(metrics)
        config = SyslogListener("127.0.0.1:0", "udp", LOG, udp=True)
        server = SyslogServer(config, sink, FakeClock(), udp_queue_bytes=1000)
        await server.start()
        try:
            server.datagram(_datagram(0, 300))
            await _until(lambda: sink.calls == 1)  # datagram 0 is being committed: still held
            for i in (1, 2, 3):  # 300 + 300 + 300 fit in 1,000 bytes; a fourth does not
                server.datagram(_datagram(i, 300))
            server.datagram(_datagram(4, 100))  # 1,000 bytes: fits exactly
            assert _dropped(metrics) == 1
            sink.gate.set()
            await _until(lambda: len(sink.stored) == 4)
            server.datagram(_datagram(5, 900))  # everything committed: room again
            await _until(lambda: len(sink.stored) == 5)
            assert _dropped(metrics) == 1
            assert [int(m.split()[0]) for m in sink.stored] == [0, 1, 2, 4, 5]
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_the_udp_queue_still_holds_at_most_max_udp_queue_datagrams() -> None:
    async def scenario() -> None:
        metrics = Metrics()
        sink = Gate(metrics)
        config = SyslogListener("127.0.0.1:0", "udp", LOG, udp=True)
        server = SyslogServer(config, sink, FakeClock())
        await server.start()
        try:
            server.datagram(_datagram(0, 40))
            await _until(lambda: sink.calls == 1)
            for i in range(MAX_UDP_QUEUE + 2):
                server.datagram(_datagram(i + 1, 40))
            assert _dropped(metrics) == 2
            sink.gate.set()
            await _until(lambda: len(sink.stored) == MAX_UDP_QUEUE + 1)
        finally:
            await server.stop()

    asyncio.run(scenario())


def _dropped(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value(
        "auditlog_ingest_rejected_total", {"transport": "syslog-udp", "reason": "pushback"}) or 0.0


def test_a_batch_stored_after_pushback_is_not_counted_as_refused(tmp_path: Path) -> None:
    """What docs/ingestion-syslog.md says: a quota the listener waits out is not a refusal; the
    batch is counted once, stored, in ``auditlog_ingest_records_total``, and never in
    ``reason="pushback"``."""
    config = parse_config(f"""
[server]
listen = "127.0.0.1:0"
metrics_listen = ""
[[principal]]
name = "writer"
token_sha256 = "{hash_token("w")}"
roles = {{ "{LOG}" = ["append"] }}
append_entries_per_s = 10
[[log]]
origin = "{LOG}"
""", tmp_path)

    def metric(name: str, **labels: str) -> float:
        return log_server.metrics.registry.get_sample_value(name, labels) or 0.0

    async def scenario() -> None:
        await log_server.start()
        try:
            sink = IngestSink(log_server.logs, Authorizer(config.principals, frozenset()),
                              log_server.metrics)
            syslog = SyslogServer(SyslogListener("127.0.0.1:0", "tcp", LOG), sink, SystemClock())
            writer = config.principals[0]
            lines = [f"<13>Nov 14 22:13:20 h app: {i}".encode() for i in range(11)]
            assert await syslog.ingest(writer, lines[:10]) == [""] * 10  # the quota's second
            assert await syslog.ingest(writer, lines[10:]) == [""]  # over it: waited out
            assert log_server.logs[LOG].store.size == 11
        finally:
            await log_server.stop()

    log_server = LogServer(config)
    asyncio.run(scenario())
    assert metric("auditlog_ingest_records_total", transport="syslog-tcp", log=LOG) == 11
    assert metric("auditlog_ingest_rejected_total", transport="syslog-tcp", reason="pushback") == 0


def test_an_rfc_3164_message_received_again_after_new_year_is_another_entry() -> None:
    """docs/ingestion-syslog.md, Redelivery: the year of an RFC 3164 stamp is the receiver's."""
    async def scenario() -> None:
        new_year = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
        clock = FakeClock(new_year - 30)
        sink = FullThenFree(refusals=0)
        server = SyslogServer(SyslogListener("127.0.0.1:0", "tcp", LOG), sink, clock)
        message = b"<13>Dec 31 23:59:50 h app: the same message"
        assert await server.ingest(None, [message]) == [""]
        clock.advance(60)
        assert await server.ingest(None, [message]) == [""]
        (_, before), (_, after) = sink.appended
        assert before.record == after.record  # what the sender sent, byte for byte
        assert (before.fields.time, after.fields.time) == ("2023-12-31T23:59:50Z",
                                                           "2024-12-31T23:59:50Z")
        assert encode_entry(before) != encode_entry(after)  # so dedup cannot recognise it

    asyncio.run(scenario())
