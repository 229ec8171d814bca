"""A fake :class:`~auditlog_tlog.common.clock.Clock`: time moves only when a test advances it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

START = 1_700_000_000


@dataclass
class FakeClock:
    """``t`` is both the wall time and the monotonic reading; ``advance`` wakes due sleepers."""

    t: float = START
    _sleepers: list[tuple[float, asyncio.Future[None]]] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.t + seconds, future))
        await future

    @property
    def sleeping(self) -> int:
        """How many sleeps are waiting for the clock to move."""
        return sum(1 for _, f in self._sleepers if not f.done())

    def advance(self, seconds: float) -> None:
        self.t += seconds
        waiting = []
        for deadline, future in self._sleepers:
            if future.done():
                continue
            if deadline <= self.t:
                future.set_result(None)
            else:
                waiting.append((deadline, future))
        self._sleepers = waiting
