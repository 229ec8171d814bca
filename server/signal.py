"""A broadcast edge between asyncio tasks: the sequencer fires it each time it signs a
checkpoint, and every witness pusher of the log wakes at once (docs/speed.md).

A waiter takes :meth:`Signal.edge` *before* it looks at the state it waits on, then awaits it:
a fire in between has already set that edge, so no signature is missed until the next tick.
"""

from __future__ import annotations

import asyncio


class Signal:
    def __init__(self) -> None:
        self._edge = asyncio.Event()

    def edge(self) -> asyncio.Event:
        """The event the next :meth:`fire` sets."""
        return self._edge

    def fire(self) -> None:
        """Wake everyone waiting on the current edge; later waiters wait for the next fire."""
        edge, self._edge = self._edge, asyncio.Event()
        edge.set()
