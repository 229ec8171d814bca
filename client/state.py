"""A client's memory of each log: the last checkpoint it verified, kept on disk.

One file per log, named by the hex SHA-256 of its origin, holding the signed checkpoint note
verbatim (so that it can be shown as evidence later)::

    <state dir>/<hex sha256(origin)>.checkpoint
    <state dir>/evidence/<UTC time>-<hex sha256(origin)>.txt    two notes that contradict

Writes are atomic and durable: a temporary file is written, fsynced and renamed over the old
one, then the directory is fsynced. Readers and writers of one state directory (a monitor and a
``verify`` run, say) take an ``flock`` on ``<state dir>/.lock`` around read-check-write, so two
processes can never move the state backwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from auditlog_tlog.common.files import fsync_dir, write_atomic

MAX_STATE_FILE: Final = 2 << 20


class CheckpointStore:
    """The last verified checkpoint of each log, under ``directory`` (created if missing)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, origin: str) -> Path:
        return self.directory / f"{hashlib.sha256(origin.encode()).hexdigest()}.checkpoint"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory's lock (between processes too) for a read-check-write."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def load(self, origin: str) -> bytes | None:
        path = self.path(origin)
        try:
            with path.open("rb") as f:
                data = f.read(MAX_STATE_FILE + 1)
        except FileNotFoundError:
            return None
        if len(data) > MAX_STATE_FILE:
            raise ValueError(f"state file {path} is larger than {MAX_STATE_FILE} bytes")
        return data

    def save(self, origin: str, note: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path(origin), note)

    def save_evidence(self, origin: str, notes: tuple[bytes, ...], what: str) -> Path:
        """Keep two contradicting signed notes, with a line saying what they show; returns the
        file written (never overwrites one)."""
        directory = self.directory / "evidence"
        directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"{stamp}-{hashlib.sha256(origin.encode()).hexdigest()[:16]}"
        body = f"# {what}\n".encode() + b"\n".join(notes)
        for n in range(1000):
            path = directory / f"{name}-{n}.txt"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
            except FileExistsError:
                continue
            with os.fdopen(fd, "wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            fsync_dir(directory)
            return path
        raise FileExistsError(f"too many evidence files named {name}-* in {directory}")
