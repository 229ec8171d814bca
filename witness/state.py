"""The witness's memory: per origin, the last checkpoint it cosigned (c2sp.org/tlog-witness@v1.0.0,
"add-checkpoint": the witness "MUST persist the new checkpoint before responding", and checking
the old size and persisting "MUST be done atomically").

The one write is :meth:`StateStore.swap`, a compare-and-swap: it replaces the state of an origin
only if the stored (size, root) is still the one the caller checked the request against, and only
forward (the new size is never smaller). Two requests racing from the same state both pass their
checks, but only the first swap wins; the loser sees ``ConflictError`` and starts over, so the
state never rolls back.

:class:`FileStateStore` keeps one JSON file per origin, named by the hex SHA-256 of the origin::

    {"checkpoint": "<cosigned note>", "origin": "...", "root": "<base64>", "size": 42}

A swap runs under a thread lock and an ``flock`` on ``<dir>/.lock`` (so that two processes
sharing the directory cannot interleave either), writes a temporary file, fsyncs it, renames it
over the old one and fsyncs the directory before it returns: when ``swap`` returns, the new state
survives a crash.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from auditlog_tlog.common.files import write_atomic
from auditlog_tlog.tree.errors import ConflictError, CorruptionError, StorageError
from auditlog_tlog.tree.hashing import HASH_SIZE

MAX_STATE_FILE: Final = 4 << 20  # a cosigned note is at most 1 MiB, JSON escapes it at most ~2x


@dataclass(frozen=True, slots=True)
class WitnessedState:
    """The last checkpoint cosigned for ``origin``: its size, root and the cosigned note.

    The note is the log's signed checkpoint with the log's verified signatures and this
    witness's cosignature; it is empty only for the implicit state before any cosignature.
    """

    origin: str
    size: int
    root: bytes
    checkpoint: bytes = b""

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not 0 <= self.size < 1 << 64:
            raise ValueError(f"size: got {self.size!r}, want an integer in [0, 2^64)")
        if len(self.root) != HASH_SIZE:
            raise ValueError(f"root: got {len(self.root)} bytes, want {HASH_SIZE}")


class StateStore(Protocol):
    def load(self, origin: str) -> WitnessedState | None:
        """The stored state of ``origin``, or None if it was never cosigned."""
        ...

    def swap(self, expected: tuple[int, bytes] | None, new: WitnessedState,
             durable: bool = True) -> int:
        """Store ``new`` if the stored (size, root) is ``expected`` (None: nothing stored), else
        raise ``ConflictError``. ``new.size`` below the expected size is a ``ValueError``: the
        state only moves forward. Durable before it returns; with ``durable=False`` a store may
        return first, and the caller must pass the ticket returned to :meth:`sync` before it
        releases anything that depends on the new state."""
        ...

    def sync(self, ticket: int) -> None:
        """Return once the swap that returned ``ticket`` is durable (StorageError if it cannot
        be made so)."""
        ...


def _file_name(origin: str) -> str:
    return hashlib.sha256(origin.encode()).hexdigest() + ".json"


class FileStateStore:
    """A :class:`StateStore` in a directory: one JSON file per origin, replaced atomically."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._lock = threading.Lock()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            lock_path = directory / ".lock"
            self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StorageError(f"state directory {directory}: {exc.strerror}") from exc

    def close(self) -> None:
        with self._lock:
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    def load(self, origin: str) -> WitnessedState | None:
        path = self._dir / _file_name(origin)
        try:
            with path.open("rb") as f:
                raw = f.read(MAX_STATE_FILE + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"state file {path}: {exc.strerror}") from exc
        return _decode(raw, origin, path)

    def swap(self, expected: tuple[int, bytes] | None, new: WitnessedState,
             durable: bool = True) -> int:
        """Durable when it returns, always (a file per state); the ticket is 0."""
        if expected is not None and new.size < expected[0]:
            raise ValueError(f"state of {new.origin}: got size {new.size}, want >= {expected[0]}")
        with self._lock:
            if self._lock_fd < 0:
                raise StorageError("the state store is closed")
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                current = self.load(new.origin)
                found = None if current is None else (current.size, current.root)
                if found != expected:
                    got = "nothing" if found is None else f"size {found[0]}"
                    want = "nothing" if expected is None else f"size {expected[0]}"
                    raise ConflictError(
                        f"state of {new.origin} changed: got {got} stored, want {want}"
                    )
                self._write(new)
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        return 0

    def sync(self, ticket: int) -> None:
        """Every swap is durable when it returns: nothing to wait for."""

    def _write(self, state: WitnessedState) -> None:
        data = json.dumps({
            "origin": state.origin,
            "size": state.size,
            "root": base64.b64encode(state.root).decode(),
            "checkpoint": state.checkpoint.decode(),
        }, sort_keys=True).encode()
        path = self._dir / _file_name(state.origin)
        try:
            write_atomic(path, data, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot write state file {path}: {exc.strerror}") from exc


def decode_state(doc: Any, origin: str) -> WitnessedState:
    """The state in a decoded JSON object (a state file, a journal record); ValueError,
    KeyError or binascii.Error when it is not exactly one."""
    if not isinstance(doc, dict) or doc.get("origin") != origin:
        raise ValueError(f"want a JSON object for origin {origin!r}")
    size, root, note = doc["size"], doc["root"], doc["checkpoint"]
    if not isinstance(size, int) or not isinstance(root, str) or not isinstance(note, str):
        raise ValueError("want an integer size, base64 root and a checkpoint string")
    return WitnessedState(origin, size, base64.b64decode(root, validate=True), note.encode())


def _decode(raw: bytes, origin: str, path: Path) -> WitnessedState:
    """Parse a state file; anything unexpected is ``CorruptionError`` (refuse, never guess)."""
    try:
        if len(raw) > MAX_STATE_FILE:
            raise ValueError(f"{len(raw)} bytes, want at most {MAX_STATE_FILE}")
        return decode_state(json.loads(raw), origin)
    except (ValueError, KeyError, binascii.Error) as exc:
        raise CorruptionError(f"state file {path} is corrupt: {exc}") from exc
