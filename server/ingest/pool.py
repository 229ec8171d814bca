"""Conversion workers: the CPU work of ingestion (parse a request or a read, write its entries)
in processes of their own, so that it does not share the server's one GIL with the gRPC
handlers, the event loop and the log's writer (docs/ingestion.md, "Conversion workers").

A worker runs a pure function of what it is given (server/ingest/otlp_convert.py,
server/ingest/syslog_convert.py): the bytes received, the transport, the principal's name, the
route and, where an entry depends on it, a time read from the server's one Clock. It returns
the entries by log, pickled; the server process only appends them. The entries are the bytes
the server process would have written itself (tests/server/ingest/test_entry_bytes.py).

- ``[ingest] workers`` processes, started with the ``spawn`` method (forking a process that
  runs gRPC's threads is unsafe) when the server starts an ingestion source, importing only the
  conversion modules: a server without ingestion starts none.
- Bounded: at most :data:`DEPTH` conversions per worker are handed over at once; the others
  wait in the server, where the byte budget (``[server] max_inflight_bytes``) holds their
  bytes.
- A worker that dies (killed, out of memory) fails the conversions in flight in the pool with
  :class:`WorkerLostError`, a StorageError: retryable (gRPC UNAVAILABLE, HTTP 503 with
  ``Retry-After``; a syslog or RELP connection is closed unanswered and its sender resends),
  and nothing of those requests was appended. The pool is started again for the next one.
- ``stop`` ends every worker and waits for them; a worker whose server was killed exits
  within :data:`WATCH_S` (no orphan process either way).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import spawn
from multiprocessing.connection import wait
from typing import Any, Final, ParamSpec, TypeVar

from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.tree.errors import StorageError

log = logging.getLogger("auditlog.server.ingest.pool")

DEPTH: Final = 4  # conversions handed to each worker at once
WATCH_S: Final = 0.5  # how often a worker checks that its server is still there
_P = ParamSpec("_P")
_T = TypeVar("_T")


class WorkerLostError(StorageError):
    """A conversion worker died with this request in flight: retry it (nothing of it was
    appended)."""


def _ready() -> None:
    """Run once by each worker as the pool starts, so that it is up before the first request."""


def _follow_parent(parent: int) -> None:
    """A worker's initializer: exit as soon as the server process ``parent`` is gone (killed
    with SIGKILL, say), which a worker blocked on its queue would not notice (it holds both
    ends of the queue's pipe), so that no worker outlives its server."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_S)
        os._exit(0)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()


def _any_ended(executor: ProcessPoolExecutor) -> bool:
    """Whether a worker of ``executor`` has ended (its sentinel is ready: no wait and no
    reaping, which would race the pool's own thread)."""
    try:
        return bool(wait([p.sentinel for p in (executor._processes or {}).values()], timeout=0))
    except (OSError, ValueError):  # a sentinel closed already: the pool is being torn down
        return True


class ConversionPool:
    """``workers`` conversion processes (module docstring)."""

    def __init__(self, workers: int, metrics: Metrics | None = None) -> None:
        if workers < 1:
            raise ValueError(f"ConversionPool of {workers} workers, want at least 1")
        self.workers = workers
        self._metrics = metrics or Metrics()
        self._executor: ProcessPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None

    async def start(self) -> None:
        """Start the workers and wait until they answer (started, the conversion modules
        imported), so that the first request does not wait for them; StorageError, the workers
        ended, when they cannot start."""
        try:
            await asyncio.gather(*map(asyncio.wrap_future, self._open()))
        except (BrokenProcessPool, OSError) as exc:
            await self.stop()
            python = os.fsdecode(spawn.get_executable())
            raise StorageError(
                f"[ingest] workers = {self.workers}: the conversion workers could not start "
                f"({type(exc).__name__}: {exc}); want {python} to run them, or "
                "[ingest] workers = 0 to convert in the server process") from None

    def _open(self) -> list[Future[None]]:
        """A new pool; the futures of each worker's start."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.workers * DEPTH)
        self._executor = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_follow_parent, initargs=(os.getpid(),))
        return [self._executor.submit(_ready) for _ in range(self.workers)]

    def pids(self) -> list[int]:
        """The process ids of the running workers."""
        executor = self._executor
        return [] if executor is None else list((executor._processes or {}).keys())

    async def run(self, function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """``function(*args)`` in a worker: its result, or what it raised; WorkerLostError
        when a worker died before it answered."""
        slots = self._slots
        if slots is None:
            raise RuntimeError("ConversionPool.run before start")
        await slots.acquire()
        try:
            executor, future = self._submit(function, *args, **kwargs)
        except BaseException:
            slots.release()
            raise
        self._metrics.ingest_conversions.inc()
        # The slot is given back when the worker is done with the conversion, not when this
        # caller stops waiting (a cancelled gRPC call): else a caller that cancels at once
        # piles up requests, their bytes with them, in the pool while the worker is busy.
        answer = asyncio.wrap_future(future)
        answer.add_done_callback(self._handed_back)
        try:
            return await asyncio.shield(answer)
        except BrokenProcessPool:
            self._restart(executor)
            raise WorkerLostError("a conversion worker died with this request in flight; "
                                  "nothing of it was appended, retry it") from None

    def _handed_back(self, answer: asyncio.Future[Any]) -> None:
        """A conversion answered (or failed): its slot free again."""
        assert self._slots is not None
        self._slots.release()
        self._metrics.ingest_conversions.dec()
        if not answer.cancelled():
            answer.exception()  # retrieved: a caller that stopped waiting leaves no warning

    def _submit(self, function: Callable[_P, _T], *args: _P.args,
                **kwargs: _P.kwargs) -> tuple[ProcessPoolExecutor, Future[_T]]:
        """Hand ``function(*args)`` to the pool (and say which); to a new pool when a worker
        died while the pool was idle (this request was not in flight then)."""
        executor = self._executor
        if executor is None:
            raise WorkerLostError("ingestion is stopping: retry it")
        if _any_ended(executor):
            self._restart(executor)  # before the pool's own thread has noticed
            executor = self._executor
            assert executor is not None
        try:
            return executor, executor.submit(function, *args, **kwargs)
        except BrokenProcessPool:
            self._restart(executor)
            assert self._executor is not None
            return self._executor, self._executor.submit(function, *args, **kwargs)

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        """A new pool in place of ``broken``, once, whichever of its requests sees it first."""
        if self._executor is not broken:
            return
        log.warning("a conversion worker died; starting %d again", self.workers)
        # Not cancel_futures: a request queued in the old pool would get CancelledError (seen
        # as a cancelled call, or ending a syslog connection's task) where it must get
        # WorkerLostError (retryable), which the old pool's thread gives it once it notices.
        try:
            self._open()  # not waited for: the request that sees it does
        except OSError as exc:  # out of file descriptors, say: the next request tries again
            raise WorkerLostError(f"a conversion worker died and none can be started now "
                                  f"({exc}); retry it") from None
        finally:
            if self._executor is not broken:  # the old pool is ended once a new one exists
                broken.shutdown(wait=False)
                self._metrics.ingest_worker_restarts.inc()

    async def stop(self) -> None:
        """End the workers and wait until they have exited; the conversions handed over
        already (at most :data:`DEPTH` per worker) are finished first, so that their requests
        are answered; later ones get WorkerLostError."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=False)
