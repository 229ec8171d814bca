"""Retention of a publishing log: pruning local entries that the bucket keeps, and the expiry of
the oldest records (issue 17; docs/retention.md).

``c2sp.org/tlog-tiles`` lets a log stop serving old entry bundles, as long as it publishes the
smallest index it still serves ("Pruning", a published minimum index); tiles stay, so proofs of
every entry kept still work. Here the log's bucket keeps everything and the server keeps
``[pruned, size)``:

* A full entry bundle ``b`` may be deleted from the database once (1) the bucket holds
  ``tile/entries/<b>`` locked in COMPLIANCE mode, (2) with the SHA-256 of the bundle the
  server would build (the metadata the publisher wrote, compared with the local bytes), and
  (3) written ``prune_after_days`` ago or more. Bundles are examined in index order and the
  first that fails a test ends the pass (bundles are published in that order, so the rest are
  younger), at most ``MAX_BUNDLES_PER_PASS`` per pass. The deletion goes through the log's
  writer thread (``Sequencer.prune``): one WriteBatch deletes the entries and stores the new
  minimum, durably. Leaf hashes and tree nodes stay: inclusion proofs, consistency proofs,
  dedup, the anchors and ``auditlog restore`` (which reads the bucket) are unaffected.
* Each pass also reads the retain-until date of the bundle holding the oldest entry the
  server keeps: the moment that entry's locked copy expires. It is in ``GetLogInfo``
  (``Publication.oldest_retain_until_unix``) and the metrics, and ``auditlog monitor`` warns
  ahead of it and when it has passed.

Reads of pruned entries are a ``PrunedError`` (gRPC FAILED_PRECONDITION, HTTP 410) that names
the bucket to read them from.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from auditlog_tlog.common.clock import Clock
from auditlog_tlog.common.s3 import S3Error
from auditlog_tlog.common.s3holds import stat
from auditlog_tlog.server.bucket_anchor import translated
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.publisher import Publisher
from auditlog_tlog.server.tiledata import entry_bundle
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.storage.strata import WIDTH
from auditlog_tlog.tree.errors import AuditLogError
from auditlog_tlog.tree.tiles import entries_path

log = logging.getLogger("auditlog.server.retention")
PASS_S: Final = 60.0
TICK_S: Final = 1.0
MAX_BUNDLES_PER_PASS: Final = 64


class Retention:
    """Prunes one log's confirmed, old entry bundles and watches its oldest record's expiry."""

    def __init__(self, store: LogStore, prune: Callable[[int], Awaitable[None]],
                 publisher: Publisher, prune_after_days: int, metrics: Metrics,
                 clock: Clock) -> None:
        self.store = store
        self._prune = prune  # Sequencer.prune: the store's writer deletes
        self._publisher = publisher
        self._bucket = publisher.bucket
        self._prune_after = timedelta(days=prune_after_days) if prune_after_days else None
        self._metrics = metrics
        self._clock = clock
        self.oldest_retain_until: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    def prunable_end(self) -> int:
        """The index below which every bundle is confirmed in the bucket and old enough
        (blocking: S3 requests; call it in a thread)."""
        store, end = self.store, self.store.pruned
        if self._prune_after is None:
            return end
        published = self._publisher.published
        for _ in range(MAX_BUNDLES_PER_PASS):
            if end + WIDTH > published:
                break
            name = entries_path(end // WIDTH)
            try:
                stored = stat(self._bucket, name)
            except S3Error as exc:
                raise translated(exc) from exc
            if stored is None or stored.mode != "COMPLIANCE" or stored.retain_until is None:
                log.warning("log %s: %s%s is not in the bucket, locked: not pruning it",
                            store.origin, self._bucket.prefix, name)
                break
            if stored.last_modified + self._prune_after > self._now():
                break
            local = hashlib.sha256(entry_bundle(store, end // WIDTH, WIDTH)).hexdigest()
            if stored.sha256 != local:
                log.error("log %s: %s%s in the bucket has SHA-256 %s, the local bundle %s: not "
                          "pruning it", store.origin, self._bucket.prefix, name, stored.sha256,
                          local)
                break
            end += WIDTH
        return end

    def read_expiry(self) -> datetime | None:
        """The retain-until date of the bundle holding the oldest entry kept (blocking)."""
        published, oldest = self._publisher.published, self.store.pruned
        if oldest >= published:
            return None
        width = min(WIDTH, published - oldest // WIDTH * WIDTH)
        try:
            stored = stat(self._bucket, entries_path(oldest // WIDTH, width))
        except S3Error as exc:
            raise translated(exc) from exc
        return None if stored is None else stored.retain_until

    async def run_once(self) -> int:
        """One pass: prune what may be, then read the oldest expiry; the new pruned minimum."""
        end = await asyncio.to_thread(self.prunable_end)
        if end > self.store.pruned:
            await self._prune(end)
            log.info("log %s: pruned entries below %d (they are in the bucket)",
                     self.store.origin, end)
        self.oldest_retain_until = await asyncio.to_thread(self.read_expiry)
        origin = self.store.origin
        self._metrics.pruned_below.labels(origin).set(self.store.pruned)
        if self.oldest_retain_until is not None:
            self._metrics.oldest_retain_until.labels(origin).set(
                self.oldest_retain_until.timestamp())
        return self.store.pruned

    def start(self) -> None:
        self._metrics.pruned_below.labels(self.store.origin).set(self.store.pruned)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        """A pass every ``PASS_S``, and within ``TICK_S`` of the bucket growing from nothing
        (so that the oldest record's expiry is known as soon as it is published)."""
        last = float("-inf")
        while True:
            known = self.oldest_retain_until is not None or not self._publisher.published
            if self._clock.monotonic() - last >= PASS_S or not known:
                last = self._clock.monotonic()
                try:
                    await self.run_once()
                except AuditLogError as exc:
                    log.warning("log %s: retention pass failed (next in %.0f s): %s",
                                self.store.origin, PASS_S, exc)
            await self._clock.sleep(TICK_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
