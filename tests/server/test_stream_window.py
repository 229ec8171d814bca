"""The AppendStream window (server/stream_window.py) on its own: how many appends run at once,
acknowledgements in request order, what an error cancels and what it leaves alone."""

from __future__ import annotations

import asyncio
import re

import pytest

from auditlog_tlog.server.stream_window import AppendWindow, stream_log
from auditlog_tlog.tree.errors import MalformedError, PushbackError


class Appends:
    """Appends that finish when the test says so; records what the window acknowledges."""

    def __init__(self) -> None:
        self.gates: dict[int, asyncio.Future[str]] = {}
        self.started: list[int] = []
        self.cancelled: list[int] = []
        self.acked: list[tuple[int, str]] = []

    async def append(self, key: int) -> str:
        self.started.append(key)
        self.gates[key] = asyncio.get_running_loop().create_future()
        try:
            return await self.gates[key]
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise

    async def acknowledge(self, key: int, result: str) -> None:
        await asyncio.sleep(0)
        self.acked.append((key, result))


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_at_most_the_window_runs_and_acks_come_in_request_order() -> None:
    async def main() -> None:
        appends = Appends()
        window: AppendWindow[str] = AppendWindow(appends.acknowledge, size=3)

        async def feed() -> None:
            for key in range(6):
                assert await window.submit(key, appends.append(key))

        feeder = asyncio.create_task(feed())
        await _settle()
        # One awaited by the acknowledger, three queued behind it, and one started whose
        # hand-over waits for room.
        assert appends.started == [0, 1, 2, 3, 4] and not feeder.done()
        for key in (3, 1, 2):  # finishing out of order acknowledges nothing before 0
            appends.gates[key].set_result(f"r{key}")
        await _settle()
        assert appends.acked == [] and window.pending == 2  # 0 and 4
        appends.gates[0].set_result("r0")
        await _settle()
        assert appends.acked == [(0, "r0"), (1, "r1"), (2, "r2"), (3, "r3")]
        assert appends.started == [0, 1, 2, 3, 4, 5]
        await feeder
        appends.gates[5].set_result("r5")
        appends.gates[4].set_result("r4")
        await window.finish()
        assert [k for k, _ in appends.acked] == [0, 1, 2, 3, 4, 5]
        assert window.pending == 0  # every append is forgotten once done
        await window.close()  # after finish: nothing to do

    asyncio.run(main())


def test_an_error_ends_the_window_and_close_cancels_only_the_waiting_appends() -> None:
    async def main() -> None:
        appends = Appends()
        window: AppendWindow[str] = AppendWindow(appends.acknowledge, size=4)
        for key in range(3):
            assert await window.submit(key, appends.append(key))
        appends.gates[0].set_exception(PushbackError("queue full"))
        await _settle()
        # The acknowledger stopped: a further submit is refused and its append never starts.
        assert not await window.submit(3, appends.append(3))
        assert appends.started == [0, 1, 2]
        with pytest.raises(PushbackError, match="queue full"):
            await window.finish()
        await window.close()
        await _settle()
        assert sorted(appends.cancelled) == [1, 2] and appends.acked == []

    asyncio.run(main())


def test_close_lets_a_write_in_progress_finish() -> None:
    async def main() -> None:
        writing = asyncio.Event()
        release = asyncio.Event()
        written: list[int] = []

        async def slow_acknowledge(key: int, result: str) -> None:
            writing.set()
            await release.wait()  # a response write that takes a while
            written.append(key)

        appends = Appends()
        window: AppendWindow[str] = AppendWindow(slow_acknowledge, size=4)
        for key in range(2):
            assert await window.submit(key, appends.append(key))
        appends.gates[0].set_result("r0")
        await writing.wait()
        closing = asyncio.create_task(window.close())
        await _settle()
        assert appends.cancelled == [1] and not closing.done()  # waits for the write
        release.set()
        await closing
        assert written == [0]

    asyncio.run(main())


def test_the_stream_log_is_named_first_then_repeated_or_left_empty() -> None:
    assert stream_log(None, "a.example/log") == "a.example/log"
    assert stream_log("a.example/log", "") == "a.example/log"
    assert stream_log("a.example/log", "a.example/log") == "a.example/log"
    with pytest.raises(MalformedError, match=re.escape("names log 'b', want 'a.example/log' or empty")):
        stream_log("a.example/log", "b")
