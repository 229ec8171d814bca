"""In process, on a fake clock: a full queue is waited out and the batch retried; the year of
an RFC 3164 timestamp is the injected clock's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from auditlog_tlog.server.ingest.record import IngestRecord, decode_entry
from auditlog_tlog.server.ingest.sink import IngestSink
from auditlog_tlog.server.ingest.syslog_config import SyslogListener
from auditlog_tlog.server.ingest.syslog_server import SyslogServer
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.security import Authorizer, Principal
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
                             ) -> list[MalformedError | None]:
        if self.refusals:
            self.refusals -= 1
            raise PushbackError("the queue is full", retry_after=0.5)
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
