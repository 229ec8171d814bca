"""The sequencer: one per log, and its writer thread, the only thread that writes the log.

Appends from any number of callers wait in one bounded queue. A single task takes what is
queued (up to ``max_batch_entries``) and, in the log's writer thread, has the log's
:class:`~auditlog_tlog.server.writer.LogWriter` commit the batch durably and, when a checkpoint
is due, sign the tree that covers it. Only then are the callers answered. While one batch is
being written the next one fills up, so a busy log writes large batches and an idle log answers
at once (group commit). Cosignatures that witnesses hand in are attached in the same thread, so
a log's database has one writer.

Indexes are assigned in arrival order: the order in which requests entered the queue.

Checkpoints: with ``checkpoint_interval_ms = 0`` every batch is signed into a checkpoint. Otherwise
a batch is signed only when the interval has passed since the last checkpoint or when a caller
asked for a receipt; an idle log signs its unsigned tail when the interval runs out, so the
latest checkpoint never lags the tree by more than one interval. Time is read from the injected
:class:`~auditlog_tlog.common.clock.Clock` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from auditlog_tlog.common.clock import Clock, SystemClock, wait_event
from auditlog_tlog.server.appended import Appended
from auditlog_tlog.server.config import LogConfig
from auditlog_tlog.server.cosigning import LogWitnesses
from auditlog_tlog.server.erasure import ErasureRequest, check_addenda, erasure_entry, plan_erasure
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.signal import Signal
from auditlog_tlog.server.writer import LogWriter
from auditlog_tlog.storage.batch import AppendOutcome
from auditlog_tlog.tree.errors import (
    AuditLogError,
    MalformedError,
    NotFoundError,
    PermissionDeniedError,
    PushbackError,
    StorageError,
    VerificationError,
)
from auditlog_tlog.tree.note import open_note
from auditlog_tlog.tree.tlogproof import TlogProof, format_tlog_proof
from auditlog_tlog.tree.vkeys import parse_vkey

log = logging.getLogger("auditlog.server.sequencer")


@dataclass(slots=True)
class _Request:
    entries: Sequence[bytes]
    want_receipt: bool
    future: asyncio.Future[Appended]
    addenda: Sequence[Sequence[tuple[bytes, bytes]]] = ()  # per entry, checked (erasure.py)


class ShuttingDownError(StorageError):
    """The sequencer no longer takes appends because the server is stopping."""


class Sequencer:
    def __init__(
        self, writer: LogWriter, config: LogConfig, metrics: Metrics,
        clock: Clock | None = None,
    ) -> None:
        self.writer = writer
        self.store = writer.store
        self.config = config
        self._metrics = metrics
        self._clock = clock or SystemClock()
        self._queue: deque[_Request] = deque()
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"writer-{self.store.origin}")
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._appenders = [parse_vkey(v) for v in config.appender_keys]
        self._interval = config.checkpoint_interval_ms / 1000
        self._last_signed = self._clock.monotonic()
        self.signed = Signal()  # fired once a new checkpoint is stored (wakes witness pushers)
        # Written, waiting for the checkpoint in flight (server/writer.py): (request, result,
        # the tree size after its batch); touched by the writer thread and, on a failure, by
        # the loop while the writer thread is idle.
        self._held: list[tuple[_Request, Appended, int]] = []

    @property
    def queued(self) -> int:
        """Entries waiting to be written (the metrics' queue depth)."""
        return self._queued

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def check_count(self, count: int) -> None:
        """Raise MalformedError for a batch of ``count`` entries, if the log does not allow it."""
        if not count:
            raise MalformedError("no entries given, want at least 1")
        if count > self.config.max_batch_entries:
            raise MalformedError(
                f"batch of {count} entries, want at most {self.config.max_batch_entries}"
            )

    def check_entries(self, entries: Sequence[bytes]) -> None:
        """Raise MalformedError for an entry of a batch the log's limits do not allow (its
        count passed :meth:`check_count`)."""
        limit = self.config.max_entry_bytes
        lengths = list(map(len, entries))
        if min(lengths) < 1 or max(lengths) > limit:  # then find which one, for the message
            i, length = next((i, n) for i, n in enumerate(lengths) if not 0 < n <= limit)
            raise MalformedError(f"entry {i} is {length} bytes, want 1 to {limit} bytes")
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

    async def append(self, entries: Sequence[bytes], want_receipt: bool,
                     addenda: Sequence[Sequence[bytes]] = ()) -> Appended:
        """Append a batch; returns once it is durable (and signed into a checkpoint).
        ``addenda``: empty, or for each entry the addenda it commits (server/erasure.py)."""
        # Counted before it becomes a list: a refused batch of 10^6 entries must not become
        # 10^6 Python objects (the heap they leave behind stays with the server).
        self.check_count(len(entries))
        # A request's repeated field makes a new bytes object at each read: read it once.
        entries = entries if isinstance(entries, list) else list(entries)
        self.check_entries(entries)
        checked: list[list[tuple[bytes, bytes]]] = []
        if addenda:
            if len(addenda) != len(entries):
                raise MalformedError(f"addenda for {len(addenda)} entries, want one list per "
                                     f"entry ({len(entries)})")
            checked = [check_addenda(i, e, a)
                       for i, (e, a) in enumerate(zip(entries, addenda, strict=True))]
        self.writer.refuse_if_halted()
        if self._closing:
            raise ShuttingDownError("the server is shutting down; retry on another instance")
        if len(entries) > self.config.max_pending_entries:  # would never fit: not retryable
            raise MalformedError(
                f"a batch of {len(entries)} entries, want at most {self.config.max_pending_entries} "
                f"(log {self.store.origin}'s max_pending_entries, the queue it must fit in)")
        if self._queued + len(entries) > self.config.max_pending_entries:
            self._metrics.pushback.labels(self.store.origin).inc()
            raise PushbackError(
                f"log {self.store.origin} has {self._queued} entries queued, limit "
                f"{self.config.max_pending_entries}; retry after 100 ms"
            )
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(entries, want_receipt, future, checked))
        self._queued += len(entries)
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            unsigned = self.store.size > self.store.checkpoint_size and self.writer.halted is None
            if unsigned:
                timeout = self._last_signed + self._interval - self._clock.monotonic()
                if not await wait_event(self._clock, self._wakeup, timeout):
                    try:
                        await loop.run_in_executor(self._thread, self._sign_tail)
                    except AuditLogError as exc:  # a halt logs itself; else retried next interval
                        if self.writer.halted is None:
                            log.error("log %s: signing the tail: %s", self.store.origin, exc)
                    self.signed.fire()
                    continue
            else:
                await self._wakeup.wait()
            self._wakeup.clear()
            if self.config.batch_delay_ms and self._queued < self.config.max_batch_entries:
                await self._clock.sleep(self.config.batch_delay_ms / 1000)
            while self._queue:
                signed_before = self.store.checkpoint_size
                requests = self._take()
                started = self._clock.monotonic()
                try:
                    done = await loop.run_in_executor(self._thread, self._write, requests)
                except Exception as exc:  # answered to every caller of the batch
                    self._fail(requests, exc)
                    continue
                self._metrics.observe_batch(
                    self.store.origin, sum(len(r.entries) for r in requests),
                    self._clock.monotonic() - started, self.store.size,
                )
                self._answer(done, signed_before)
            if self._held:  # the queue is empty: store the checkpoint in flight, answer
                signed_before = self.store.checkpoint_size
                try:
                    done = await loop.run_in_executor(self._thread, self._settle)
                except Exception as exc:
                    self._fail([], exc)
                    continue
                self._answer(done, signed_before)

    def _answer(self, done: list[tuple[_Request, Appended]], signed_before: int) -> None:
        for request, result in done:
            self._queued -= len(request.entries)
            if not request.future.done():  # the caller may have gone away
                request.future.set_result(result)
        if self.store.checkpoint_size != signed_before:
            self.signed.fire()

    def _fail(self, requests: list[_Request], exc: Exception) -> None:
        """Answer ``exc`` to the callers of the batch that failed and to those held for a
        checkpoint in flight (the writer stores it, or raises its error, at its next write)."""
        # Its traceback holds this loop's own frame; a caller that clears the frames of an
        # error it answered (server/handlers.py) would end this loop with it.
        exc.__traceback__ = None
        held = [request for request, _, _ in self._held]
        failed = requests + [r for r in held if all(r is not mine for mine in requests)]
        self._held.clear()
        for request in failed:
            self._queued -= len(request.entries)
            if not request.future.done():
                request.future.set_exception(exc)

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

    def _write(self, requests: list[_Request]) -> list[tuple[_Request, Appended]]:
        """In the writer thread: commit, sign if due or a receipt is wanted, build receipts.
        Returns the requests to answer now: those whose entries are covered by a stored
        checkpoint, or need none; the others wait in ``_held`` for the checkpoint in flight."""
        entries = [e for r in requests for e in r.entries] if len(requests) > 1 else \
            requests[0].entries
        addenda: list[Sequence[tuple[bytes, bytes]]] = []
        if any(r.addenda for r in requests):
            addenda = [a for r in requests for a in (r.addenda or [()] * len(r.entries))]
        want_receipt = any(r.want_receipt for r in requests)
        sign = want_receipt or self._clock.monotonic() - self._last_signed >= self._interval
        if sign:
            self._last_signed = self._clock.monotonic()
        # A receipt needs its checkpoint stored before it is built: no overlap then.
        batch = self.writer.append(entries, self.config.dedup, sign, addenda,
                                   overlap=not want_receipt)
        note = self._receipt_checkpoint() if want_receipt else b""
        duplicates = sorted(batch.duplicates)
        begin = 0
        for request in requests:
            end = begin + len(request.entries)
            indexes = batch.indexes[begin:end]
            mine = frozenset(d - begin for d in duplicates[bisect_left(duplicates, begin):
                                                           bisect_left(duplicates, end)])
            receipts = [self._receipt(i, note) for i in indexes] if request.want_receipt else []
            appended = Appended(indexes, batch.leaves[begin:end], mine, receipts)
            self._held.append((request, appended, self.store.size))
            begin = end
        # Overlap the anchor file's fsync with the next batch only when one at least as large
        # is waiting; else wait for it here, while the next batch fills (``_queued``, read
        # across threads, counts the held entries too until they are answered).
        if self._queued - sum(len(r.entries) for r, _, _ in self._held) < len(entries):
            self.writer.settle()
        return self._settled()

    def _settled(self) -> list[tuple[_Request, Appended]]:
        """Take from ``_held`` the requests no checkpoint in flight has to cover: all of them
        when none is in flight, else those of the trees before it (stored when it was signed)."""
        in_flight = self.writer.in_flight
        done = [(r, a) for r, a, size in self._held if in_flight is None or size < in_flight]
        if len(done) == len(self._held):
            self._held.clear()
        else:
            self._held[:] = [h for h in self._held if in_flight is not None and h[2] >= in_flight]
        return done

    def _settle(self) -> list[tuple[_Request, Appended]]:
        """In the writer thread: store the checkpoint in flight; the requests it answers."""
        self.writer.settle()
        return self._settled()

    def _sign_tail(self) -> None:
        """Sign a checkpoint for entries committed since the last one (interval mode)."""
        self._last_signed = self._clock.monotonic()
        if self.store.size > self.store.checkpoint_size:
            self.writer.sign_head()

    async def attach_cosignatures(
        self, witnesses: LogWitnesses, size: int, lines: bytes
    ) -> list[str]:
        """Verify cosignature lines and store them with the checkpoint (in the writer thread)."""
        if self._closing:
            raise ShuttingDownError("the server is shutting down; retry on another instance")
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, witnesses.attach, self.store, size, lines
        )

    async def erase(self, request: ErasureRequest) -> tuple[AppendOutcome, int, list[bytes]]:
        """Erase addenda (server/erasure.py) in the writer thread: the erasure record's outcome,
        the entry whose addenda were erased, and their digests."""
        if self._closing:
            raise ShuttingDownError("the server is shutting down; retry on another instance")

        def erase() -> tuple[AppendOutcome, int, list[bytes]]:
            try:
                index, digests = plan_erasure(self.store, request)
            except NotFoundError:
                # Nothing left to erase: perhaps an erasure committed before a crash or a failed
                # purge cut it short, so the purge is done again (it is idempotent).
                self.store.addenda.purge()
                raise
            record = erasure_entry(self.store.origin, request.who, request.why, index, digests,
                                   self._clock.now())
            return self.writer.erase(record, index, digests), index, digests

        return await asyncio.get_running_loop().run_in_executor(self._thread, erase)

    async def report_witness_size(self, witness: str, size: int) -> None:
        """A witness said which size it cosigned last: an anchor (beyond the tree: a halt)."""
        if self._closing:
            return
        await asyncio.get_running_loop().run_in_executor(
            self._thread, self.writer.report_witness_size, witness, size
        )

    async def prune(self, end: int) -> None:
        """Delete the entries below ``end`` (server/retention.py), in the writer thread."""
        if self._closing:
            return
        await asyncio.get_running_loop().run_in_executor(self._thread, self.store.prune, end)

    def _receipt_checkpoint(self) -> bytes:
        """The latest checkpoint (which covers the batch just written), read once per batch."""
        note = self.store.checkpoint(self.store.checkpoint_size)
        if note is None:
            raise StorageError(f"log {self.store.origin}: no checkpoint stored at size "
                               f"{self.store.checkpoint_size}")
        return note

    def _receipt(self, index: int, note: bytes) -> bytes:
        proof = self.store.inclusion_proof(index, self.store.checkpoint_size)
        return format_tlog_proof(TlogProof(index=index, proof=proof, checkpoint=note))

    async def close(self) -> None:
        """Stop taking appends, let every queued one be written, then stop the writer."""
        self._closing = True
        while self._queued:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, self.writer.close)
        except AuditLogError as exc:  # the anchor file failed: open() signs the tail again
            log.error("log %s: storing the last checkpoint: %s", self.store.origin, exc)
        self._thread.shutdown(wait=True)
