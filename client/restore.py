"""``auditlog restore``: rebuild a log's database from its published c2sp.org/tlog-tiles objects.

Nothing in the bucket is trusted but what the log's key signed:

1. the latest checkpoint (the ``checkpoint`` object, or a larger one in ``checkpoints/``) and
   every checkpoint of the history must be signed by the log's key; the restore stops at the
   latest one, at exactly its size;
2. every entry bundle is decoded, its entries hashed (RFC 6962 leaf hashes) and folded into the
   tree; every tile the tree then holds, at every level, must equal the published tile
   (c2sp.org/tlog-tiles), so a changed bundle or tile is named as soon as it is read;
3. the recomputed root must equal the root of every signed checkpoint, at its size.

The log is written by ``storage.restore.LogImporter`` into the server's database; on any failure
what was written is deleted again (the log stays empty), and a log that already holds entries
is never touched. The restored log then opens at the same size, with the same checkpoints, and
its server continues it with the same key: receipts issued before still verify, and every old
checkpoint is consistent with the new ones.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.context import ForkServerContext
from typing import Any

from auditlog_tlog.client.progress import Progress, Silent
from auditlog_tlog.client.restore_worker import (
    Digests,
    SourceSpec,
    digest_bundles,
    open_source,
)
from auditlog_tlog.client.tiles_source import MAX_NOTE, history_path, prefetch
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.restore import LogImporter
from auditlog_tlog.tree.checkpoint import Checkpoint, open_checkpoint
from auditlog_tlog.tree.errors import MalformedError, VerificationError
from auditlog_tlog.tree.hashing import HASH_SIZE, Hasher
from auditlog_tlog.tree.keys import Ed25519Verifier
from auditlog_tlog.tree.tiles import TILE_WIDTH, entries_path, tile_path, tile_width

MIN_SIZE_FOR_PROCESSES = 1 << 17  # below this, starting a process costs more than it saves
BUNDLES_PER_TASK = 128  # 32,768 entries: two SST files of their rows per task
MIN_TASK_BUNDLES = 16  # the first task's, and the last ones' at least
LOCAL_TASKS = 1  # tasks done in this process at least, while the worker processes start


@dataclass(frozen=True, slots=True)
class RestoreResult:
    origin: str
    size: int
    root: bytes
    checkpoints: int
    tiles: int
    seconds: float
    note: bytes = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"origin": self.origin, "size": self.size, "root": self.root.hex(),
                "checkpoints": self.checkpoints, "tiles": self.tiles,
                "seconds": round(self.seconds, 3), "checkpoint": self.note.decode()}


class Restorer:
    """Verifies a source against the log's keys while importing it (see the module docstring)."""

    def __init__(self, spec: SourceSpec, log_keys: Sequence[Ed25519Verifier],
                 progress: Progress | None = None, processes: int = 2) -> None:
        if not log_keys:
            raise ValueError("no log verifier key given, want at least one")
        self.spec, self.log_keys = spec, tuple(log_keys)
        self.source = open_source(spec)
        self.progress = progress or Silent()
        self.processes = processes  # fetching, hashing and rows beside the writer (0: threads)

    def _verified(self, note: bytes, path: str) -> Checkpoint:
        try:
            checkpoint, _ = open_checkpoint(note, self.log_keys, origin=self.source.origin)
        except (MalformedError, VerificationError) as exc:
            raise VerificationError(f"{self.source.fetcher.where(path)} is not a checkpoint "
                                    f"signed by the log's key: {exc}") from None
        return checkpoint

    def latest(self) -> tuple[Checkpoint, bytes]:
        """The ``checkpoint`` object, its signature checked."""
        note = self.source.checkpoint().note
        return self._verified(note, "checkpoint"), note

    def checkpoints(self) -> dict[int, tuple[Checkpoint, bytes]]:
        """Every published checkpoint, signature checked, by size."""
        latest, latest_note = self.latest()
        found = {latest.size: (latest, latest_note)}
        sizes = [s for s in self.source.checkpoint_sizes() if s != latest.size]
        tasks = (partial(self.source.fetcher.get, history_path(s), MAX_NOTE) for s in sizes)
        for size, note in zip(sizes, prefetch(tasks, self.source.pool, 4 * self.source.workers),
                              strict=True):
            checkpoint = self._verified(note, history_path(size))
            if checkpoint.size != size:
                raise VerificationError(f"{self.source.fetcher.where(history_path(size))} holds "
                                        f"a checkpoint of size {checkpoint.size}, want {size}")
            found[size] = (checkpoint, note)
        return found

    def run(self, db: Database, hasher: Hasher) -> RestoreResult:
        """Import the source into ``db`` as the log ``source.origin``; see the module docstring."""
        started = time.monotonic()
        # The worker processes start first: they boot (~0.3 s) while the checkpoints are read.
        processes = self.processes if self.processes and self._size_hint() else 0
        pool, ready = _process_pool(processes) if processes else (None, _READY)
        local = ThreadPoolExecutor(2, thread_name_prefix="digest")
        # RocksDB syncs each ingested file (and releases the GIL): that waits in its own thread.
        ingester = ThreadPoolExecutor(1, thread_name_prefix="ingest")
        executors = (pool, local, ingester)  # the ingester's submitted files all go in
        try:
            known = self.checkpoints()
            size = max(known)
            check = _TileCheck(self, size)
            importer = LogImporter(db, self.source.origin, hasher, on_tile=check)
            try:
                self._run(importer, known, size, local,
                          pool if size >= MIN_SIZE_FOR_PROCESSES else None, ingester, ready)
            except BaseException:
                _shutdown(executors)  # before abort: no task writes or ingests files after it
                importer.abort()
                raise
        finally:
            # Every task has answered (or the line above waited for them): the worker
            # processes exit on their own, without the restore waiting for it (~20 ms).
            _shutdown(executors, wait_pool=False)
        return RestoreResult(self.source.origin, size, known[size][0].root, len(known),
                             check.checked, time.monotonic() - started, known[size][1])

    def _size_hint(self) -> bool:
        """Whether the source's latest checkpoint is large enough for worker processes."""
        return self.source.latest_size() >= MIN_SIZE_FOR_PROCESSES

    def _run(self, importer: LogImporter, known: dict[int, tuple[Checkpoint, bytes]],
             size: int, local: Executor, pool: Executor | None, ingester: Executor,
             ready: threading.Event) -> None:
        stops = iter(sorted(s for s in known if s > 0))
        stop = next(stops, None)
        count = -(-size // TILE_WIDTH)
        tasks = [partial(digest_bundles, self.spec, first, end, size, importer.files)
                 for first, end in task_bounds(count)]
        ingests: deque[Future[None]] = deque()  # in index order, one at a time
        self.progress.start(size, "entries")
        try:
            for digests in _results(tasks, local, pool, self.processes, ready):
                ingests.append(ingester.submit(importer.ingest, digests.files))
                while ingests and ingests[0].done():
                    ingests.popleft().result()  # an ingest that failed stops the restore
                for digest in digests.bundles:
                    self.source.remember_tile(0, digest.index, digest.published_tile)
                    leaves = digest.tile[0] if digest.tile is not None else digest.leaves
                    position = 0
                    while position < digest.count:
                        take = digest.count - position
                        if stop is not None:
                            take = min(take, stop - importer.size)
                        if take == digest.count and digest.tile is not None:
                            importer.extend_tile(digest.tile)
                        else:
                            importer.extend(_split(leaves, position, take))
                        position += take
                        if importer.size == stop:
                            self._check_root(importer, known[stop][0], stop)
                            stop = next(stops, None)
                    self.progress.advance(digest.count)
            for ingest in ingests:
                ingest.result()
        finally:
            self.progress.close()
        importer.finish({s: n for s, (_, n) in known.items()}, size)

    def _check_root(self, importer: LogImporter, checkpoint: Checkpoint, size: int) -> None:
        root = importer.root()
        if root != checkpoint.root:
            where = self.source.fetcher.where(
                "checkpoint" if size == self.source.latest_size() else history_path(size))
            raise VerificationError(
                f"the entries and tiles of {self.source.address} give root {root.hex()} at size "
                f"{size}, but {where} (signed by the log) says {checkpoint.root.hex()}: "
                f"entries or tiles before index {size} were altered")


def _shutdown(executors: Sequence[Executor | None], *, wait_pool: bool = True) -> None:
    """Stop the executors; the last one's (the ingester's) submitted tasks all run. The first
    (the worker processes) is waited for only with ``wait_pool``."""
    for n, executor in enumerate(executors):
        if executor is not None:
            executor.shutdown(wait=wait_pool or n > 0, cancel_futures=n < len(executors) - 1)


_READY = threading.Event()
"""Set once a server of forks has answered in this process (see ``_process_pool``)."""
_MAIN_LOCK = threading.Lock()


def _process_pool(processes: int) -> tuple[ProcessPoolExecutor, threading.Event]:
    """``processes`` worker processes, forked by a server of forks (never a fork of this
    process, which has threads) that imports the worker's modules once, and an event set once
    the server answers.

    Until then, starting a process waits for the server's imports (~0.7 s on a cold start, in
    the thread that submits the pool's first task): the writer runs tasks in its own threads
    meanwhile (``_results``), and a thread of its own waits for the server with a process
    that does nothing."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["auditlog_tlog.client.restore_worker"])
    # Start it now: it imports while this process reads the checkpoints.
    multiprocessing.forkserver.ensure_running()
    if not _READY.is_set():
        threading.Thread(target=_await_forkserver, args=(context,), name="forkserver",
                         daemon=True).start()
    return ProcessPoolExecutor(processes, mp_context=context), _READY


def _await_forkserver(context: ForkServerContext) -> None:
    """Start a process that does nothing and wait for it: the server of forks has imported
    the worker's modules then. ``_READY`` is set however it ends (a pool whose processes
    cannot start fails on its own)."""
    try:
        with _main_unnamed():
            probe = context.Process(target=os.getpid, name="restore-probe")
            probe.start()
        probe.join()
    finally:
        _READY.set()


@contextmanager
def _main_unnamed() -> Iterator[None]:
    """While worker processes start: multiprocessing has each of them run this process's
    ``__main__`` script again (Python 3.11 ignores "__main__" in the server's preload), which
    imports all its script imports (``bench/run.py``: ~1 s of CPU a process); a worker needs
    nothing from it, so the script's path is hidden from multiprocessing meanwhile (one
    thread at a time)."""
    with _MAIN_LOCK:
        main = sys.modules["__main__"]
        path = main.__dict__.pop("__file__", None)
        try:
            yield
        finally:
            if path is not None:
                main.__file__ = path


def _results(tasks: Sequence[Callable[[], Digests]], local: Executor,
             pool: Executor | None, processes: int, ready: threading.Event) -> Iterator[Digests]:
    """The results of ``tasks`` in order. The first ``LOCAL_TASKS``, and every one submitted
    before the server of forks answers (``ready``), run in this process's threads (all do
    without processes), the others in ``pool``, at most two per process ahead of the one
    awaited."""
    window = LOCAL_TASKS + 2 * max(1, processes) + 1
    pending: deque[Future[Digests]] = deque()
    pooled = 0
    try:
        for n, task in enumerate(tasks):
            if pool is None or n < LOCAL_TASKS or not ready.is_set():
                pending.append(local.submit(task))
            elif pooled < processes:  # the pool's first tasks each start a process
                with _main_unnamed():
                    pending.append(pool.submit(task))
                pooled += 1
            else:
                pending.append(pool.submit(task))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def task_bounds(count: int) -> list[tuple[int, int]]:
    """Runs ``[first, end)`` of the ``count`` bundles, one per task: ``BUNDLES_PER_TASK`` each
    (few SST files: the leaf-hash files overlap and RocksDB merges them), but smaller at the
    start, so that the writer starts sooner, and at the end, where the last tasks spread over
    the processes instead of leaving one to finish a large one alone."""
    bounds: list[tuple[int, int]] = []
    first, take = 0, MIN_TASK_BUNDLES
    while first < count:
        end = min(count, first + min(take, max(MIN_TASK_BUNDLES, (count - first) // 3)))
        bounds.append((first, end))
        first, take = end, min(2 * take, BUNDLES_PER_TASK)
    return bounds


def _split(row: bytes, begin: int, count: int) -> list[bytes]:
    """Hashes ``[begin, begin + count)`` of a row of joined hashes."""
    return [row[i:i + HASH_SIZE] for i in range(begin * HASH_SIZE, (begin + count) * HASH_SIZE,
                                                 HASH_SIZE)]


class _TileCheck:
    """``on_tile`` of the importer: each tile it writes must equal the published one."""

    def __init__(self, restorer: Restorer, size: int) -> None:
        self.source, self.size = restorer.source, size
        self.checked = 0

    def __call__(self, level: int, index: int, row: bytes) -> None:
        published = self.source.tile(level, index, self.size)
        width = tile_width(level, index, self.size)
        if published != row:
            where = self.source.fetcher.where(tile_path(level, index, width))
            first = next((i for i in range(0, min(len(row), len(published)), HASH_SIZE)
                          if row[i:i + HASH_SIZE] != published[i:i + HASH_SIZE]), 0) // HASH_SIZE
            under = (f"the hashes of the entries in "
                     f"{self.source.fetcher.where(entries_path(index, width))}" if level == 0
                     else "the tree computed from the entry bundles")
            raise VerificationError(f"{where} differs from {under} at hash {first}: the tile or "
                                    "what lies under it was altered")
        self.checked += 1
