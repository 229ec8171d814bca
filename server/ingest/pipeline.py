"""Reading a connection's next batch while the one before is committed, and no further: the
pipeline of every syslog and RELP connection (server/ingest/syslog_server.py;
docs/ingestion-syslog.md says what it means on a crash).

At most one commit is in flight, so a connection holds at most two reads and a slow log slows
its sender through TCP flow control instead of buffering without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any, TypeVar

_B = TypeVar("_B")


async def one_ahead(batches: AsyncGenerator[_B, None],
                     commit: Callable[[_B], Coroutine[Any, Any, None]]) -> None:
    """``commit`` every batch in order, the next one being read and prepared while the one
    before is committed: at most one commit in flight, so a connection holds at most two
    reads and a slow log still slows its sender through TCP flow control. A commit that
    fails ends the connection at once, even while the next read waits for bytes; whatever
    else ends it (its end, a bad frame, a graceful stop cancelling it), every batch read so
    far is committed first, as when each read was committed before the next."""
    pending: asyncio.Future[None] | None = None
    try:
        async with contextlib.aclosing(batches):
            step: asyncio.Future[_B] | None = None
            try:
                while True:
                    step = asyncio.ensure_future(anext(batches))
                    try:
                        if pending is not None:
                            await asyncio.wait((step, pending),
                                               return_when=asyncio.FIRST_COMPLETED)
                            if pending.done() and pending.exception() is not None:
                                await pending  # raises why the log refused the commit
                        batch = await step
                        if pending is not None:
                            await asyncio.shield(pending)
                    except StopAsyncIteration:
                        break
                    except asyncio.CancelledError:  # a graceful stop: what was read is written
                        if step.done() and not step.cancelled() and step.exception() is None:
                            if pending is not None:
                                await _settle(pending)
                            pending = asyncio.ensure_future(commit(step.result()))
                        raise
                    pending = asyncio.ensure_future(commit(batch))
            finally:
                if step is not None and not step.done():  # a read abandoned: stop it first
                    step.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await step
        if pending is not None:
            await pending
    finally:
        if pending is not None and not pending.done():
            await _settle(pending)


async def _settle(commit: asyncio.Future[None]) -> None:
    """Wait for a commit while the connection ends for another reason (which is what
    propagates; a cancellation of this wait leaves the commit running)."""
    with contextlib.suppress(Exception):
        await asyncio.shield(commit)
