"""common/clock.py wait_event: an event or the injected clock, whichever comes first."""

from __future__ import annotations

import asyncio

from auditlog_tlog.common.clock import wait_event
from tests.clock import FakeClock


def test_wait_event_returns_when_the_event_is_set() -> None:
    async def scenario() -> bool:
        clock, event = FakeClock(), asyncio.Event()
        waiting = asyncio.ensure_future(wait_event(clock, event, 10))
        await asyncio.sleep(0)
        event.set()
        result = await waiting
        assert clock.sleeping == 0  # the timer was cancelled
        return result

    assert asyncio.run(scenario()) is True


def test_wait_event_times_out_on_the_clock() -> None:
    async def scenario() -> tuple[bool, bool]:
        clock, event = FakeClock(), asyncio.Event()
        waiting = asyncio.ensure_future(wait_event(clock, event, 10))
        while not clock.sleeping:  # until the timer sleeps on the clock
            await asyncio.sleep(0)
        clock.advance(9)
        await asyncio.sleep(0)
        early = waiting.done()
        clock.advance(1)
        return early, await waiting

    assert asyncio.run(scenario()) == (False, False)


def test_wait_event_does_not_wait_when_set_or_due() -> None:
    async def scenario() -> tuple[bool, bool]:
        clock, event = FakeClock(), asyncio.Event()
        due = await wait_event(clock, event, 0)
        event.set()
        return due, await wait_event(clock, event, 10)

    assert asyncio.run(scenario()) == (False, True)
