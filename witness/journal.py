"""The witness's state and archive queue in one append-only journal, synced once per request
(c2sp.org/tlog-witness@v1.0.0, "add-checkpoint": the witness "MUST persist the new checkpoint
before responding", and checking the old size and persisting "MUST be done atomically").

:class:`Journal` is a ``witness.state.StateStore`` and a ``witness.archive.Archive``. A swap
appends one record, the new state with its cosigned note, to ``<state_dir>/witness.journal``
and returns once an ``fdatasync`` covers it (or at once with ``durable=False``, and
:meth:`Journal.sync` of its ticket waits); the compare-and-swap is made on the states held in
memory, under a lock, in journal order. Concurrent waits share one ``fdatasync`` (group commit).
:meth:`Journal.load` returns a state only once it is durable, so nothing is released (a repeat
answer, the monitoring endpoint) that a crash could take back.

With a local archive the journal is also the archive's durable queue: :meth:`Journal.put` of a
note the journal holds stages the archive file without a sync (``LocalArchive.stage``: visible
at once, so an auditor never finds a released cosignature missing from the archive), and a
background thread makes staged objects durable in batches (one ``syncfs`` per
``ARCHIVE_BATCH`` notes or ``ARCHIVE_DELAY_S``, whichever comes first), then appends a marker record
saying that every note before an offset is in the archive. Other objects (fork evidence) are put
synchronously. So an answered request costs one ``fdatasync`` instead of five syncs (state file
and directory, archive directory, object and its directory), and "archived before released"
holds: the released note is durable in the journal, and recovery archives it before serving.
While a record is synced (``witness.syncahead``), its request prepares the object unseen
(``LocalArchive.prepare_staged``) and links it after. Records: ``witness.records``.

Recovery (at open) reads records up to the first that is short or fails its CRC (a torn tail),
truncates the file there, so that stale bytes can never follow a new record, and repairs the
archive objects of the records after the last marker (``LocalArchive.repair``). State sizes per
origin must never decrease along the journal; one that does is ``CorruptionError``. When the file
passes ``max_bytes`` it is compacted: a new file with the current states, a marker and the
records not yet archived is written, fsynced and renamed over it. A directory without a journal
but with the JSON files of ``witness.state.FileStateStore`` is imported once.

A failed write or ``fdatasync`` breaks the journal: the kernel may have dropped the pages, so no
state is trusted until a restart reads the file again; every later call raises StorageError.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Final

from auditlog_tlog.common.files import fsync_dir
from auditlog_tlog.tree.errors import ConflictError, PushbackError, StorageError
from auditlog_tlog.witness.archive import LocalArchive, Unlinked, cosigned_key, sync_paths
from auditlog_tlog.witness.records import (
    Pending,
    compacted,
    encode_record,
    read_records,
    read_state_files,
    replay,
    state_record,
    write_journal,
)
from auditlog_tlog.witness.state import WitnessedState
from auditlog_tlog.witness.syncahead import SyncAhead

log = logging.getLogger("auditlog.witness")
JOURNAL: Final = "witness.journal"
MAX_BYTES: Final = 8 << 20  # compact beyond this
MAX_PENDING: Final = 20_000  # notes awaiting the archive sync; beyond, swaps are refused (503)
ARCHIVE_BATCH: Final = 256  # the archive is synced once this many notes wait,
ARCHIVE_DELAY_S: Final = 0.05  # or this long after the first of them


class Journal:
    """A :class:`~auditlog_tlog.witness.state.StateStore` and archive in one journal file."""

    def __init__(self, directory: Path, archive: LocalArchive | None = None,
                 max_bytes: int = MAX_BYTES, max_pending: int = MAX_PENDING) -> None:
        self._dir = directory
        self._path = directory / JOURNAL
        self._archive = archive
        self._max_bytes = max_bytes
        self._max_pending = max_pending
        self._lock = threading.Lock()  # states, pending, appends
        self._sync = threading.Condition()  # group commit
        self._wake = threading.Condition(self._lock)  # the archive syncer
        self._states: dict[str, tuple[WitnessedState, int]] = {}  # origin -> (state, its seq)
        self._pending: list[Pending] = []  # in journal order
        self._staged: set[str] = set()  # keys of pending notes whose object put has written
        self._written = self._synced = 0  # sequence numbers of records appended / made durable
        self._end = 0  # where the next record goes
        self._syncing = False
        self._pass = threading.Lock()  # one archive pass (and compaction) at a time
        self._broken: str | None = None
        self._closing = self._closed = False
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                                    0o600)
        except OSError as exc:
            raise StorageError(f"state directory {directory}: {exc.strerror}") from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._fd = self._open()
        except BlockingIOError:
            os.close(self._lock_fd)
            raise StorageError(f"state directory {directory} is in use by another witness "
                               "process") from None
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._thread: threading.Thread | None = None
        self._syncer: SyncAhead | None = None
        self._notes: dict[int, tuple[str, bytes]] = {}  # ticket -> its note's key and note
        self._unlinked: dict[str, Unlinked] = {}  # key -> its object, prepared, to link
        if archive is not None:
            self._thread = threading.Thread(target=self._archiver, name="witness-archive-sync",
                                            daemon=True)
            self._thread.start()
            self._syncer = SyncAhead(self._sync_to)

    # -- StateStore ----------------------------------------------------------------------------
    def load(self, origin: str) -> WitnessedState | None:
        with self._lock:
            if self._closed:  # everything was synced when it closed: still readable
                state = self._states.get(origin)
                return None if state is None else state[0]
            self._check_open()
            found = self._states.get(origin)
        if found is None:
            return None
        self._sync_to(found[1])  # a state is handed out only once it is durable
        return found[0]

    def swap(self, expected: tuple[int, bytes] | None, new: WitnessedState,
             durable: bool = True) -> int:
        """Append the new state's record; return its ticket once an ``fdatasync`` covers it
        (``durable=False``: at once, and :meth:`sync` of the ticket waits for that)."""
        if expected is not None and new.size < expected[0]:
            raise ValueError(f"state of {new.origin}: got size {new.size}, want >= {expected[0]}")
        record = state_record(new)
        with self._lock:
            self._check_open()
            current = self._states.get(new.origin)
            found = None if current is None else (current[0].size, current[0].root)
            if found != expected:
                got = "nothing" if found is None else f"size {found[0]}"
                want = "nothing" if expected is None else f"size {expected[0]}"
                raise ConflictError(f"state of {new.origin} changed: got {got} stored, want {want}")
            if self._archive is not None and len(self._pending) >= self._max_pending:
                raise PushbackError(f"{len(self._pending)} cosigned notes wait for the archive "
                                    f"sync, limit {self._max_pending}; retry later", retry_after=1)
            offset = self._append(record)
            self._states[new.origin] = (new, self._written)
            if self._archive is not None:
                key = cosigned_key(new.origin, new.size, new.checkpoint)
                self._pending.append(Pending(offset, key, new.checkpoint, record))
                if len(self._pending) in (1, ARCHIVE_BATCH):  # what the archiver waits for
                    self._wake.notify()
            seq = self._written
            if self._archive is not None and not durable:
                self._notes[seq] = (key, new.checkpoint)
        if durable:
            self._sync_to(seq)
        return seq

    def sync(self, ticket: int) -> None:
        """Return once the record of ``ticket`` (a :meth:`swap`'s) is durable. Calls that wait
        together share one ``fdatasync``. With an archive the sync thread syncs while this one
        prepares the note's object unseen (``LocalArchive.prepare_staged``; :meth:`put`)."""
        note = self._notes.pop(ticket, None)
        if note is None or self._synced >= ticket or self._syncer is None:
            self._sync_to(ticket)
            return
        self._syncer.ask(ticket)
        assert self._archive is not None
        unlinked = self._archive.prepare_staged(*note)
        try:
            self._sync_to(ticket)
        except BaseException:
            if unlinked is not None:
                os.close(unlinked.fd)
            raise
        if unlinked is not None:
            self._unlinked[note[0]] = unlinked

    # -- Archive -------------------------------------------------------------------------------
    def put(self, key: str, data: bytes) -> bool:
        """A note the journal holds is staged (visible at once, durable in the journal already;
        the archiver syncs it); anything else (fork evidence) is put durably at once."""
        if self._archive is None:
            raise StorageError("this journal has no archive")
        with self._lock:
            self._check_open()
            # Queued, or archived by a pass that ran between the swap and this put: a note
            # swapped in by this process (a replayed state has sequence number 0).
            pending = any(p.key == key for p in reversed(self._pending))
            queued = pending or any(seq and s.checkpoint == data
                                    for s, seq in self._states.values())
        if not queued:
            return self._archive.put(key, data)
        unlinked = self._unlinked.pop(key, None)  # prepared while its record was synced
        if unlinked is not None:
            self._archive.publish_staged(unlinked)  # visible at once; synced by the archiver
        else:
            self._archive.write_staged(key, data)
        if pending:
            with self._lock:  # the archive pass need not write it again
                if any(p.key == key for p in reversed(self._pending)):
                    self._staged.add(key)
        return True

    def flush(self) -> None:
        """Sync every staged archive object now and mark it archived (tests; close)."""
        if self._archive is not None:
            self._archive_pass()

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
        if self._syncer is not None:
            self._syncer.close()
        while self._unlinked:  # prepared, never put: a reader never saw it
            os.close(self._unlinked.popitem()[1].fd)
        try:
            if self._broken is None:
                self.flush()
        except StorageError as exc:
            log.error("witness archive sync at close: %s (the notes stay in the journal and are "
                      "archived at the next start)", exc)
        finally:
            with self._sync:
                while self._syncing:
                    self._sync.wait()
                os.close(self._fd)
                os.close(self._lock_fd)
            with self._lock:
                self._closed = True

    # -- the file ------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closing:
            raise StorageError("the witness journal is closed")
        self._check()

    def _check(self) -> None:
        if self._broken is not None:
            raise StorageError(f"the witness journal is unusable until a restart: {self._broken}")

    def _append(self, record: bytes) -> int:
        """Write a record at the end (under ``_lock``); returns its offset."""
        offset = self._end
        try:
            written = os.pwrite(self._fd, record, offset)
            if written != len(record):
                raise OSError(0, f"short write of {written} of {len(record)} bytes")
        except OSError as exc:
            try:
                os.ftruncate(self._fd, offset)  # never leave a torn record before later ones
            except OSError:
                self._fail(f"write: {exc.strerror}, and the torn record could not be cut")
            raise StorageError(f"cannot write the witness journal: {exc.strerror}") from exc
        self._end = offset + len(record)
        self._written += 1
        return offset

    def _sync_to(self, seq: int) -> None:
        """Return once record ``seq`` is durable; one thread syncs for every waiter."""
        with self._sync:
            while self._synced < seq:
                if self._broken is not None:
                    self._check()
                if self._syncing:
                    self._sync.wait()
                    continue
                self._syncing = True
                target = self._written
                fd = self._fd
                self._sync.release()
                try:
                    os.fdatasync(fd)
                    failed = None
                except OSError as exc:
                    failed = exc
                finally:
                    self._sync.acquire()
                    self._syncing = False
                    self._sync.notify_all()
                if failed is not None:
                    self._fail(f"fdatasync: {failed.strerror}")
                    raise StorageError(f"cannot sync the witness journal: {failed.strerror}")
                self._synced = max(self._synced, target)

    def _fail(self, why: str) -> None:
        if self._broken is None:
            log.error("witness journal %s failed (%s): refusing every request until a restart",
                      self._path, why)
            self._broken = why

    def _open(self) -> int:
        """Open the journal, recover what it holds, and return its descriptor."""
        if not self._path.exists():
            imported = read_state_files(self._dir)  # once, from a FileStateStore directory
            if imported:
                log.info("witness journal: importing %d state files of %s", len(imported),
                         self._dir)
                os.close(write_journal(self._path, b"".join(map(state_record, imported))))
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            data = b""
            while chunk := os.read(fd, 1 << 20):
                data += chunk
        except OSError as exc:
            raise StorageError(f"cannot read the witness journal {self._path}: {exc.strerror}"
                               ) from exc
        try:
            records, end = read_records(data)
            states, pending = replay(records, self._path, self._archive is not None)
            self._states = {origin: (state, 0) for origin, state in states.items()}
            self._pending = pending
            if end != len(data):
                log.warning("witness journal %s: %d bytes after the last whole record (a crash "
                            "while writing it); cut", self._path, len(data) - end)
                os.ftruncate(fd, end)
            # What a killed process wrote may still be only in the page cache: make it durable
            # before any of it is handed out again.
            os.fsync(fd)
            fsync_dir(self._dir)
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"cannot repair the witness journal {self._path}: "
                               f"{exc.strerror}") from exc
        except BaseException:
            os.close(fd)
            raise
        self._end = end
        if self._archive is not None:
            for p in self._pending:
                self._archive.repair(p.key, p.note)  # synced by the archiver's first pass
        return fd

    # -- the archive syncer --------------------------------------------------------------------
    def _archiver(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closing:
                    self._wake.wait()
                # Gather a batch: a sync of the file system per request would queue the
                # journal's own syncs behind it.
                self._wake.wait_for(lambda: self._closing or len(self._pending) >= ARCHIVE_BATCH,
                                    ARCHIVE_DELAY_S)
                if self._closing:
                    return
            try:
                self._archive_pass()
            except StorageError as exc:
                log.error("witness archive sync: %s (the notes stay in the journal)", exc)
                with self._lock:
                    if self._closing:
                        return
                    self._wake.wait(1.0)  # the archive is failing: try again in a second

    def _archive_pass(self) -> None:
        """Stage (if needed) and sync every pending object, then mark them archived."""
        with self._pass:
            assert self._archive is not None
            with self._lock:
                self._check()
                batch = list(self._pending)
                end, written = self._end, self._written
            if not batch:
                return
            self._sync_to(written)  # else a power cut could keep an object whose state it lost
            archive = self._archive
            for p in batch:
                if p.key not in self._staged:  # a read of a set another thread adds to: atomic
                    archive.write_staged(p.key, p.note)
            sync_paths(archive.root, (path for p in batch for path in archive.paths_to_sync(p.key)))
            with self._lock:
                self._check()
                done = {p.key for p in batch}
                self._pending = [p for p in self._pending if p.key not in done]
                # Tickets whose sync was never asked for (none on the request paths): dropped.
                self._notes = {t: n for t, n in self._notes.items() if t > self._synced}
                self._staged -= done
                self._append(encode_record({"archived_to": end}))
                if self._end > self._max_bytes:
                    self._compact()
                seq = self._written
            self._sync_to(seq)

    def _compact(self) -> None:
        """Under ``_lock``: rewrite the journal as its current states, a marker and the records
        not yet archived, durably, in place of the old file."""
        data, moved = compacted([s for s, _ in self._states.values()], self._pending)
        with self._sync:
            while self._syncing:
                self._sync.wait()
            fd = write_journal(self._path, data)
            os.close(self._fd)
            self._fd, self._end, self._pending = fd, len(data), moved
            self._synced = self._written
            self._sync.notify_all()
