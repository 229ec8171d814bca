"""The sequencer: one per log, the only writer of that log.

Appends from any number of callers wait in one bounded queue. A single task takes what is
queued (up to ``max_batch_entries``), and in the log's own writer thread prepares the batch,
has the signer sign a checkpoint for the new tree (given the consistency proof from the last
one), and commits entries, nodes, state and checkpoint in one synced WriteBatch. Only then are
the callers answered. While one batch is being written the next one fills up, so a busy log
writes large batches and an idle log answers at once (group commit).

Indexes are assigned in arrival order: the order in which requests entered the queue.

Checkpoints: with ``checkpoint_interval_ms = 0`` every batch is signed into a checkpoint in the
same WriteBatch. Otherwise a batch is signed only when the interval has passed since the last
checkpoint or when a caller asked for a receipt; an idle log signs its unsigned tail when the
interval runs out, so the latest checkpoint never lags the tree by more than one interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from auditlog_tlog.server.config import LogConfig
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.signer import CheckpointSigner
from auditlog_tlog.storage.logstore import AppendOutcome, LogStore
from auditlog_tlog.tree.errors import (
    AuditLogError,
    MalformedError,
    PermissionDeniedError,
    PushbackError,
    StorageError,
    VerificationError,
)
from auditlog_tlog.tree.note import open_note
from auditlog_tlog.tree.tlogproof import TlogProof, format_tlog_proof
from auditlog_tlog.tree.vkeys import parse_vkey

log = logging.getLogger("auditlog.server")


@dataclass(frozen=True, slots=True)
class Receipted:
    """An append outcome and, if asked for, its c2sp.org/tlog-proof@v1 receipt."""

    outcome: AppendOutcome
    receipt: bytes = b""


@dataclass(slots=True)
class _Request:
    entries: Sequence[bytes]
    want_receipt: bool
    future: asyncio.Future[list[Receipted]]


class ShuttingDownError(StorageError):
    """The sequencer no longer takes appends because the server is stopping."""


class Sequencer:
    def __init__(
        self, store: LogStore, signer: CheckpointSigner, config: LogConfig, metrics: Metrics
    ) -> None:
        self.store = store
        self.signer = signer
        self.config = config
        self._metrics = metrics
        self._queue: deque[_Request] = deque()
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"writer-{store.origin}")
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._appenders = [parse_vkey(v) for v in config.appender_keys]
        self._interval = config.checkpoint_interval_ms / 1000
        self._last_signed = time.monotonic()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def check_entries(self, entries: Sequence[bytes]) -> None:
        """Raise MalformedError for a batch the log's limits do not allow."""
        limit = self.config.max_entry_bytes
        if not entries:
            raise MalformedError("no entries given, want at least 1")
        if len(entries) > self.config.max_batch_entries:
            raise MalformedError(
                f"batch of {len(entries)} entries, want at most {self.config.max_batch_entries}"
            )
        for i, entry in enumerate(entries):
            if not 0 < len(entry) <= limit:
                raise MalformedError(
                    f"entry {i} is {len(entry)} bytes, want 1 to {limit} bytes"
                )
        if self.config.require_signed_entries:
            for i, entry in enumerate(entries):
                self._check_signed(i, entry)

    def _check_signed(self, i: int, entry: bytes) -> None:
        """A log with signed appends takes only C2SP signed notes from its appender keys."""
        try:
            open_note(entry, self._appenders)
        except (MalformedError, VerificationError) as exc:
            raise PermissionDeniedError(
                f"entry {i} is not a signed note of a registered appender key of "
                f"{self.store.origin}: {exc}"
            ) from None

    async def append(self, entries: Sequence[bytes], want_receipt: bool) -> list[Receipted]:
        """Append a batch; returns once it is durable (and signed into a checkpoint)."""
        self.check_entries(entries)
        if self._closing:
            raise ShuttingDownError("the server is shutting down; retry on another instance")
        if self._queued + len(entries) > self.config.max_pending_entries:
            self._metrics.pushback.labels(self.store.origin).inc()
            raise PushbackError(
                f"log {self.store.origin} has {self._queued} entries queued, limit "
                f"{self.config.max_pending_entries}; retry after 100 ms"
            )
        future: asyncio.Future[list[Receipted]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(entries, want_receipt, future))
        self._queued += len(entries)
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            unsigned = self.store.size > self.store.checkpoint_size
            try:
                timeout = max(0.0, self._last_signed + self._interval - time.monotonic())
                await asyncio.wait_for(self._wakeup.wait(), timeout if unsigned else None)
            except TimeoutError:
                try:
                    await loop.run_in_executor(self._writer, self._sign_tail)
                except AuditLogError as exc:  # a failed write: the next batch or timeout retries
                    log.warning("log %s: signing the tail failed: %s", self.store.origin, exc)
                continue
            self._wakeup.clear()
            if self.config.batch_delay_ms and self._queued < self.config.max_batch_entries:
                await asyncio.sleep(self.config.batch_delay_ms / 1000)
            while self._queue:
                requests = self._take()
                started = time.perf_counter()
                try:
                    results = await loop.run_in_executor(self._writer, self._write, requests)
                except Exception as exc:  # answered to every caller of the batch
                    # Its traceback holds this loop's own frame; a caller that clears the frames
                    # of an error it answered (server/handlers.py) would end this loop with it.
                    exc.__traceback__ = None
                    for request in requests:
                        if not request.future.done():
                            request.future.set_exception(exc)
                    continue
                finally:
                    self._queued -= sum(len(r.entries) for r in requests)
                self._metrics.observe_batch(
                    self.store.origin, sum(len(r.entries) for r in requests),
                    time.perf_counter() - started, self.store.size,
                )
                for request, result in zip(requests, results, strict=True):
                    if not request.future.done():  # the caller may have gone away
                        request.future.set_result(result)

    def _take(self) -> list[_Request]:
        taken: list[_Request] = []
        count = 0
        while self._queue:
            nxt = len(self._queue[0].entries)
            if taken and count + nxt > self.config.max_batch_entries:
                break
            taken.append(self._queue.popleft())
            count += nxt
        return taken

    def _write(self, requests: list[_Request]) -> list[list[Receipted]]:
        """In the writer thread: prepare, sign, commit, then build receipts."""
        entries = [e for r in requests for e in r.entries]
        batch = self.store.prepare(entries, self.config.dedup)
        signed_before = self.signer.last
        checkpoint = None
        due = time.monotonic() - self._last_signed >= self._interval
        if batch.entries and (due or any(r.want_receipt for r in requests)):
            self._last_signed = time.monotonic()
            try:
                proof = self.store.proof_in_batch(batch, self.signer.last[0])
                checkpoint = self.signer.sign(batch.size, batch.root, proof)
            except Exception:
                self.store.abandon()
                raise
        if batch.entries:
            try:
                self.store.commit(batch, checkpoint)
            except StorageError:
                # A failed write (a full disk): the checkpoint just signed was never stored;
                # the store reloads its state before the next batch, which is signed from the
                # head before this one.
                self.signer.rewind(*signed_before)
                raise
        results: list[list[Receipted]] = []
        outcomes = iter(batch.outcomes)
        note = self._receipt_checkpoint() if any(r.want_receipt for r in requests) else b""
        for request in requests:
            mine = [next(outcomes) for _ in request.entries]
            if request.want_receipt:
                results.append([self._receipted(o, note) for o in mine])
            else:
                results.append([Receipted(o) for o in mine])
        return results

    def _sign_tail(self) -> None:
        """Sign a checkpoint for entries committed since the last one (interval mode)."""
        store = self.store
        if store.size > store.checkpoint_size:
            self._last_signed = time.monotonic()
            signed_before = self.signer.last
            proof = store.consistency_proof(signed_before[0], store.size)
            note = self.signer.sign(store.size, store.root, proof)
            try:
                store.commit(store.prepare([], False), note)
            except StorageError:
                self.signer.rewind(*signed_before)  # never stored: as in _write
                raise

    def _receipt_checkpoint(self) -> bytes:
        """The latest checkpoint (which covers the batch just written), read once per batch."""
        note = self.store.checkpoint(self.store.checkpoint_size)
        if note is None:
            raise StorageError(f"log {self.store.origin}: no checkpoint stored at size "
                               f"{self.store.checkpoint_size}")
        return note

    def _receipted(self, outcome: AppendOutcome, note: bytes) -> Receipted:
        proof = self.store.inclusion_proof(outcome.index, self.store.checkpoint_size)
        receipt = format_tlog_proof(TlogProof(index=outcome.index, proof=proof, checkpoint=note))
        return Receipted(outcome, receipt)

    async def close(self) -> None:
        """Stop taking appends, let every queued one be written, then stop the writer."""
        self._closing = True
        while self._queued:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._writer.shutdown(wait=True)
