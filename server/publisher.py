"""Publication of a log to an S3 bucket with Object Lock, as c2sp.org/tlog-tiles
(docs/publication.md). Layout under the prefix (default ``<origin>/``)::

    tile/<L>/<N>                 full hash tiles          written once (If-None-Match: *)
    tile/<L>/<N>.p/<W>           partial hash tiles       written once per width
    tile/entries/<N>[.p/<W>]     entry bundles            idem
    checkpoints/<size, 20 digits> every published checkpoint, written once (the history)
    checkpoint                   the latest published checkpoint: a new locked version each round

Every object is locked COMPLIANCE until now + ``retention_days`` and read back (HEAD) to confirm
the lock; with ``confirm_each_object = false`` only the first object of a round, the history
object and the checkpoint are, the others by the PUT's answer (a new version, the SHA-256 the
store verified; ``common.s3``). A round
publishes the log's latest signed checkpoint: first the tiles and bundles that changed since
the bucket's checkpoint, then ``checkpoints/<size>``, then the new version of ``checkpoint``.
The bucket's ``checkpoint`` therefore never names a tile that is not there, and the published
size is read back from the bucket at start: a crash in the middle of a round makes the next
round write the same objects again, which S3 refuses with 412 (success: the object is ours,
compared by SHA-256); a *different* object at a key we write is a finding, reported loudly, and
publication stops.

Publication runs beside the append path: an asyncio task per log ticks every ``TICK_S``, runs at
most one round per ``interval_s``, and writes objects from a pool of ``concurrency`` threads with
at most ``2 * concurrency`` objects built at once (memory is bounded whatever the lag). With
``acknowledge_after_publication`` an append waits (:meth:`Publisher.wait_published`) until a
published checkpoint covers it.

The bucket is also an anchor (docs/anchors.md, ``server.bucket_anchor``): ``BucketAnchor`` reads
its checkpoint once and then learns each one the publisher writes (cheap enough for the
writer's check before every signature), and :meth:`Publisher.open` refuses a bucket ahead of
the local tree or not consistent with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import Final

from auditlog_tlog.common.clock import Clock, SystemClock
from auditlog_tlog.common.s3 import LockedBucket, S3Error, retrying
from auditlog_tlog.server.bucket_anchor import BucketAnchor, check_published, translated
from auditlog_tlog.server.log_tables import PublishConfig
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.publish_worker import BucketSpec, PutResult, open_worker_bucket, put_many, ready
from auditlog_tlog.server.tiledata import entry_bundle, hash_tile
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.errors import (
    AuditLogError,
    CorruptionError,
    StorageError,
)
from auditlog_tlog.tree.tiles import entries_path, tile_path

log = logging.getLogger("auditlog.server.publisher")
TICK_S: Final = 0.05
WIDTH: Final = 256


def history_name(size: int) -> str:
    return f"checkpoints/{size:020d}"


@dataclass(frozen=True, slots=True)
class Round:
    """What one publication round wrote."""

    size: int
    objects: int
    bytes: int
    written: int  # objects this round created (the others were there already: 412)


def changed_objects(store: LogStore, old: int, new: int) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name, reader) of every tile and entry bundle that differs between sizes old and new."""
    level = 0
    while new >> (8 * level) > old >> (8 * level):
        count_old, count_new = old >> (8 * level), new >> (8 * level)
        for index in range(count_old // WIDTH, (count_new - 1) // WIDTH + 1):
            width = min(WIDTH, count_new - index * WIDTH)
            yield tile_path(level, index, width), partial(hash_tile, store, level, index, width)
            if level == 0:
                yield entries_path(index, width), partial(entry_bundle, store, index, width)
        level += 1


class Publisher:
    """Publishes one log's signed checkpoints, tiles and bundles to its bucket."""

    def __init__(self, store: LogStore, config: PublishConfig, bucket: LockedBucket,
                 metrics: Metrics, clock: Clock | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 anchor: BucketAnchor | None = None) -> None:
        self.store = store
        self.config = config
        self.bucket = bucket
        self._metrics = metrics
        self._clock = clock or SystemClock()
        self._sleep = sleep  # between retries of one object
        self.anchor = anchor or BucketAnchor(bucket)
        self._origin = store.origin
        self.published = 0
        self.failure: str | None = None
        self.last_success = 0.0
        self._behind_since: float | None = None
        self._last_round = float("-inf")
        self._pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix=f"publish-{self._origin}")
        # With processes, runs of objects go to processes of their own (server/publish_worker.py).
        self._run_size = max(1, config.concurrency // max(1, config.processes))
        self._remote: ProcessPoolExecutor | None = None
        if config.processes:
            spec = BucketSpec(config.endpoint_url, config.region, config.timeout_s, bucket.bucket,
                              config.retention_days, bucket.prefix, self._run_size,
                              config.max_attempts)
            self._remote = ProcessPoolExecutor(
                config.processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=open_worker_bucket, initargs=(spec,))
        self._task: asyncio.Task[None] | None = None
        self._progress: asyncio.Condition | None = None

    @property
    def clock(self) -> Clock:
        return self._clock

    def open(self) -> None:
        """Learn the published size from the bucket; the local tree must extend it."""
        note = self.anchor.latest()
        if note is not None:
            self.published = check_published(self.store, note).size
        if self._remote is not None:  # start the processes now, not in the first round
            for started in [self._remote.submit(ready) for _ in range(self.config.processes)]:
                started.result()
        self._metrics.published_size.labels(self._origin).set(self.published)
        self.observe_lag()

    # -- one round (a worker thread) ---------------------------------------------------------
    def publish_once(self) -> Round | None:
        """Publish the latest signed checkpoint if it is ahead of the bucket's."""
        store = self.store
        size = store.checkpoint_size
        note = store.checkpoint(size)
        if size <= self.published or note is None:
            return None
        self._last_round = self._clock.monotonic()
        objects = written = total = 0
        for was_written, length in self._write_all(changed_objects(store, self.published, size)):
            objects, written, total = objects + 1, written + was_written, total + length
        written += self._put(history_name(size), note, once=True)
        self._put("checkpoint", note, once=False)
        objects, written, total = objects + 2, written + 1, total + 2 * len(note)
        self.published = size
        self.anchor.published(note)
        self.last_success = self._clock.now()
        self._behind_since = None
        self._metrics.published_size.labels(self._origin).set(size)
        self._metrics.publish_last_success.labels(self._origin).set(self.last_success)
        self.observe_lag()
        return Round(size, objects, total, written)

    def _write_all(self, objects: Iterator[tuple[str, Callable[[], bytes]]]) -> Iterator[tuple[bool, int]]:
        """Write objects from the pool, at most 2 * concurrency in flight; (written, bytes) each."""
        if self._remote is not None:
            yield from self._write_remote(self._remote, objects)
            return
        window = 2 * self.config.concurrency
        pending: set[Future[tuple[bool, int]]] = set()

        def one(name: str, read: Callable[[], bytes], confirm: bool) -> tuple[bool, int]:
            data = read()
            return self._put(name, data, once=True, confirm=confirm), len(data)

        def drain(until: int) -> Iterator[tuple[bool, int]]:
            nonlocal pending
            while len(pending) > until:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    if future.exception() is not None:
                        for other in pending:
                            other.cancel()
                        wait(pending)
                    yield future.result()

        for position, (name, read) in enumerate(objects):
            # Every object is read back (HEAD), or with confirm_each_object off the first as a
            # sample, the others confirmed by the PUT's answer (docs/publication.md).
            confirm = self.config.confirm_each_object or position == 0
            pending.add(self._pool.submit(one, name, read, confirm))
            yield from drain(window - 1)
        yield from drain(0)

    def _write_remote(self, remote: ProcessPoolExecutor,
                      objects: Iterator[tuple[str, Callable[[], bytes]]]) -> Iterator[tuple[bool, int]]:
        """:meth:`_write_all` through the worker processes: runs of ``concurrency / processes``
        objects, read here, at most two runs per process in flight."""
        until = self.bucket.retain_until()
        pending: deque[tuple[Future[list[PutResult]], list[int]]] = deque()
        run: list[tuple[str, bytes, bool]] = []

        def submit() -> None:
            pending.append((remote.submit(put_many, list(run), until, self.config.max_attempts),
                            [len(data) for _, data, _ in run]))
            run.clear()

        try:
            for position, (name, read) in enumerate(objects):
                run.append((name, read(), self.config.confirm_each_object or position == 0))
                if len(run) == self._run_size:
                    submit()
                    if len(pending) > 2 * self.config.processes:
                        yield from self._collect(*pending.popleft())
            if run:
                submit()
            while pending:
                yield from self._collect(*pending.popleft())
        finally:
            for future, _ in pending:
                future.cancel()

    def _collect(self, future: Future[list[PutResult]], lengths: list[int]) -> Iterator[tuple[bool, int]]:
        for result, length in zip(future.result(), lengths, strict=True):
            if result.retries:
                self._metrics.publish_retries.labels(self._origin).inc(result.retries)
            try:
                result.raise_failure()
            except S3Error as exc:
                raise translated(exc) from exc
            if result.written:
                self._metrics.published_objects.labels(self._origin).inc()
                self._metrics.published_bytes.labels(self._origin).inc(length)
            yield result.written, length

    def _put(self, name: str, data: bytes, once: bool, confirm: bool = True) -> bool:
        def retried() -> None:
            self._metrics.publish_retries.labels(self._origin).inc()

        try:
            if once:
                written = retrying(lambda: self.bucket.put_once(name, data, confirm=confirm),
                                   f"S3 put of {self.bucket.prefix}{name}",
                                   self.config.max_attempts, sleep=self._sleep, on_retry=retried)
            else:
                retrying(lambda: self.bucket.put_version(name, data),
                         f"S3 put of {self.bucket.prefix}{name}", self.config.max_attempts,
                         sleep=self._sleep, on_retry=retried)
                written = True
        except S3Error as exc:
            raise translated(exc) from exc
        if written:
            self._metrics.published_objects.labels(self._origin).inc()
            self._metrics.published_bytes.labels(self._origin).inc(len(data))
        return written

    def observe_lag(self) -> tuple[int, float]:
        """(entries, seconds) the bucket is behind the local tree; also set in the metrics."""
        entries = max(0, self.store.size - self.published)
        now = self._clock.monotonic()
        if self.store.checkpoint_size > self.published and self._behind_since is None:
            self._behind_since = now
        seconds = 0.0 if self._behind_since is None or not entries else now - self._behind_since
        self._metrics.publish_lag_entries.labels(self._origin).set(entries)
        self._metrics.publish_lag_seconds.labels(self._origin).set(seconds)
        return entries, seconds

    def due(self) -> bool:
        """Whether a round may run now: the interval has passed since the last one."""
        return self._clock.monotonic() - self._last_round >= self.config.interval_s

    # -- the task ------------------------------------------------------------------------------
    def start(self) -> None:
        self._progress = asyncio.Condition()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            await self._clock.sleep(max(TICK_S, backoff))
            self.observe_lag()
            if self.failure or not self.due() or self.store.checkpoint_size <= self.published:
                continue
            try:
                await asyncio.to_thread(self.publish_once)
                backoff = 0.0
            except CorruptionError as exc:
                self._metrics.publish_errors.labels(self._origin).inc()
                self.failure = str(exc)
                log.error("log %s: publication stopped: %s", self._origin, exc)
            except AuditLogError as exc:  # S3 unavailable, a store read failed: try again
                self._metrics.publish_errors.labels(self._origin).inc()
                backoff = min(60.0, max(1.0, backoff * 2))
                log.warning("log %s: publication round failed (retrying in %.0f s): %s",
                            self._origin, backoff, exc)
            await self._notify()

    async def _notify(self) -> None:
        if self._progress is not None:
            async with self._progress:
                self._progress.notify_all()

    async def wait_published(self, size: int) -> None:
        """Return once a checkpoint of at least ``size`` entries is published."""
        if self._progress is None:
            raise RuntimeError("the publisher is not running")
        async with self._progress:
            while self.published < size:
                if self.failure:
                    raise StorageError(f"log {self._origin}: publication stopped: {self.failure}")
                await self._progress.wait()

    async def stop(self) -> None:
        """Stop the task; one last round publishes what was signed before (best effort)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.failure is None:
            try:
                await asyncio.to_thread(self.publish_once)
            except StorageError as exc:
                log.warning("log %s: last publication round failed: %s", self._origin, exc)
        await self._notify()
        self.close()
        self.bucket.client.close()

    def close(self) -> None:
        """Stop the threads and processes that write objects."""
        self._pool.shutdown(wait=True)
        if self._remote is not None:
            self._remote.shutdown(wait=True, cancel_futures=True)

