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
