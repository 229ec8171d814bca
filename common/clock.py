"""The one clock of the project (one ``Clock`` is injected everywhere time
matters, so timing behaviour is tested in process with a fake, not with sleeps).

:class:`Clock` is the port: wall time for what is written down (cosignature timestamps, archive
retention), a monotonic reading for intervals and deadlines, and a sleep that a fake clock ends
when the test advances it. :class:`SystemClock` is the real one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """POSIX time in seconds."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for intervals and deadlines."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def wait_event(clock: Clock, event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds have passed on ``clock``; True when
    the event is set (at once, without waiting, if it already is)."""
    if event.is_set() or timeout <= 0:
        return event.is_set()
    woken = asyncio.ensure_future(event.wait())
    timer = asyncio.ensure_future(clock.sleep(timeout))
    try:
        await asyncio.wait({woken, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        woken.cancel()
        timer.cancel()
    return event.is_set()
