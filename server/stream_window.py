"""The in-flight window of one ``AppendStream`` (proto/auditlog.proto, ``Log.AppendStream``).

Up to ``size`` request messages are being appended at once; their acknowledgements are written
in request order by one acknowledger task, whatever order the appends finish in::

    submit(0, append) ─┐                      ┌─> acknowledge(0, result)
    submit(1, append) ─┼─> [ queue of size ] ─┼─> acknowledge(1, result)
    submit(2, append) ─┘   (waits when full)  └─> acknowledge(2, result)

:meth:`AppendWindow.submit` waits while the window is full and says False once the acknowledger
has stopped (an append or a write failed): the stream ends with that error, raised by
:meth:`AppendWindow.finish`. :meth:`AppendWindow.close` stops waiting for the appends not yet
acknowledged (cancelling the wait, not the append already queued in the sequencer) and lets the
acknowledger finish the write it is in, so a response is never cut in half. Each append is
forgotten once done, so a long stream holds at most a window's requests and results.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, Generic, TypeVar

from auditlog_tlog.common.echo import echo
from auditlog_tlog.tree.errors import MalformedError

T = TypeVar("T")
STREAM_WINDOW: Final = 16  # request messages of one AppendStream in flight at once
CLOSE_WAIT_S: Final = 10.0  # how long a closed window lets a write in progress finish


class AppendWindow(Generic[T]):
    def __init__(
        self, acknowledge: Callable[[int, T], Awaitable[None]], size: int = STREAM_WINDOW
    ) -> None:
        if size < 1:
            raise ValueError(f"window size {size}, want at least 1")
        self._acknowledge = acknowledge
        self._queue: asyncio.Queue[tuple[int, asyncio.Future[T]] | None] = asyncio.Queue(size)
        self._pending: set[asyncio.Future[T]] = set()
        self._acker = asyncio.create_task(self._run())

    @property
    def pending(self) -> int:
        """Appends started and not finished yet."""
        return len(self._pending)

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not None:
            key, append = item
            await self._acknowledge(key, await append)

    async def submit(self, key: int, append: Coroutine[Any, Any, T]) -> bool:
        """Start ``append`` and queue its acknowledgement, waiting while the window is full.
        False (and ``append`` never started) once the acknowledger has stopped."""
        if self._acker.done():
            append.close()
            return False
        task = asyncio.ensure_future(append)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return await self._hand_over((key, task))

    async def _hand_over(self, item: tuple[int, asyncio.Future[T]] | None) -> bool:
        """Queue an item unless the acknowledger stops first (then it never would take it)."""
        put = asyncio.ensure_future(self._queue.put(item))
        await asyncio.wait({put, self._acker}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            return False
        return True

    async def finish(self) -> None:
        """Wait until every submitted append is acknowledged; raise the error that stopped it."""
        if await self._hand_over(None):
            await self._acker
            return
        error = None if self._acker.cancelled() else self._acker.exception()
        if error is not None:
            raise error

    async def close(self) -> None:
        """Stop waiting for unacknowledged appends; let a write in progress end on its own."""
        for task in list(self._pending):
            task.cancel()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        await asyncio.wait({self._acker}, timeout=CLOSE_WAIT_S)
        if not self._acker.done():
            self._acker.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._acker  # retrieved: an error here is the one finish() raised, or moot


def stream_log(origin: str | None, named: str) -> str:
    """The log a stream message appends to: the first message names it, later ones name it
    again or leave ``log`` empty (the same rule decides authorization, ``server.handlers``)."""
    if origin is None or named == origin:
        return named
    if named:
        raise MalformedError(f"stream message names log {echo(named)}, want {origin!r} or empty")
    return origin
