"""In process: a syslog or RELP connection prepares its next read while the one before is
committed, commits in order with at most one commit in flight, and commits everything it
read however the connection ends (``one_ahead`` of server/ingest/pipeline.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from auditlog_tlog.server.ingest.pipeline import one_ahead
from auditlog_tlog.tree.errors import MalformedError, PermissionDeniedError


class Log:
    """Commits that finish only when the test releases them."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.done: list[int] = []
        self.release: dict[int, asyncio.Event] = {}
        self.in_flight = 0
        self.most_in_flight = 0

    async def commit(self, batch: int) -> None:
        self.started.append(batch)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await self.release.setdefault(batch, asyncio.Event()).wait()
        self.in_flight -= 1
        self.done.append(batch)

    def let(self, batch: int) -> None:
        self.release.setdefault(batch, asyncio.Event()).set()


async def _until(condition: object) -> None:
    for _ in range(1000):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


def test_the_next_read_is_prepared_while_one_commits_in_order() -> None:
    async def scenario() -> None:
        log, read = Log(), []

        async def batches() -> AsyncGenerator[int, None]:
            for n in range(3):
                read.append(n)
                yield n

        task = asyncio.create_task(one_ahead(batches(), log.commit))
        await _until(lambda: read == [0, 1] and log.started == [0])
        assert log.done == []  # batch 1 was read and prepared while batch 0 commits
        for n in range(3):
            log.let(n)
        await task
        assert log.done == [0, 1, 2] and log.most_in_flight == 1

    asyncio.run(scenario())


def test_a_bad_frame_ends_the_connection_after_what_was_read_is_committed() -> None:
    async def scenario() -> None:
        log = Log()

        async def batches() -> AsyncGenerator[int, None]:
            yield 0
            await asyncio.sleep(0)
            raise MalformedError("a bad frame")

        task = asyncio.create_task(one_ahead(batches(), log.commit))
        await _until(lambda: log.started == [0])
        await asyncio.sleep(0)
        assert not task.done()  # the error waits for the commit of batch 0
        log.let(0)
        with pytest.raises(MalformedError, match="a bad frame"):
            await task
        assert log.done == [0]

    asyncio.run(scenario())


def test_a_graceful_stop_still_commits_every_read() -> None:
    async def scenario() -> None:
        log = Log()
        second_read = asyncio.Event()

        async def batches() -> AsyncGenerator[int, None]:
            yield 0
            yield 1  # prepared, waiting for batch 0's commit
            second_read.set()
            await asyncio.Event().wait()

        task = asyncio.create_task(one_ahead(batches(), log.commit))
        await _until(lambda: log.started == [0])
        task.cancel()  # as SyslogServer.stop does to every connection
        await asyncio.sleep(0)
        log.let(0)
        log.let(1)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert log.done == [0, 1] and not second_read.is_set()

    asyncio.run(scenario())


def test_a_refused_commit_ends_the_connection_while_the_next_read_waits() -> None:
    async def scenario() -> None:
        async def batches() -> AsyncGenerator[int, None]:
            yield 0
            await asyncio.Event().wait()  # the sender sends nothing more and waits

        async def commit(batch: int) -> None:
            raise PermissionDeniedError("no 'append' role")

        with pytest.raises(PermissionDeniedError, match="append"):
            await asyncio.wait_for(one_ahead(batches(), commit), 10)

    asyncio.run(scenario())
