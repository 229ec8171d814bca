"""Anchors: what a log has signed, kept where damage to its database cannot roll it back
(docs/anchors.md: the log does not trust its own disk; the checkpoints are
c2sp.org/tlog-checkpoint signed notes).

A RocksDB can be deleted, truncated or replaced by an older copy of itself. A log that believed
it would sign, at a size it already signed, a root from another history: a fork. So the log
never decides from its database alone what it signed last. Every anchor says what the log
signed (or what others saw it sign), and the local tree must equal or extend each of them,
with a consistency proof (RFC 9162 §2.1.4) from the local tree:

* :class:`AnchorFile` -- every checkpoint the log signs, appended to
  ``<data_dir>/anchors/<sha256(origin)>.checkpoints`` and fsynced *before* the database stores
  it. The writer commits a batch's entries first, then signs, then appends here, then stores
  the checkpoint in the database; a crash between the last two leaves this file one signed head
  ahead of the database, and the database's tree already equals or extends it (the writer puts
  it back in the database at open).
* what witnesses last cosigned (a push witness tells its size in a 409 answer): a witness that
  has cosigned a size beyond the local tree saw this log sign a tree it no longer has;
* anything else that implements :class:`Anchor` (a publisher's bucket checkpoint).

A local tree that is smaller than an anchor, has another root at the same size, or cannot
prove consistency with it is a :class:`LogHaltedError`: the log stops appending and signing.

Record layout of the anchor file: ``u32 length || note || u32 crc32(note)``, big-endian. Only
the last record may be torn (a crash while appending it, before the database saw it): it is cut
off at open. Once the file passes :data:`COMPACT_BYTES` it is replaced (write, fsync, rename)
by a file holding only its latest record.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import threading
import zlib
from pathlib import Path
from typing import Final, Protocol

from auditlog_tlog.common.files import fsync_dir, write_atomic
from auditlog_tlog.tree.checkpoint import Checkpoint, parse_checkpoint
from auditlog_tlog.tree.errors import (
    CorruptionError,
    DiskFullError,
    MalformedError,
    StorageError,
    VerificationError,
)
from auditlog_tlog.tree.hashing import Hasher
from auditlog_tlog.tree.note import parse_note
from auditlog_tlog.tree.verify import verify_consistency

MAX_RECORD_NOTE: Final = 64 * 1024
COMPACT_BYTES: Final = 1 << 20
_FRAME: Final = 8  # length prefix and crc32


class Anchor(Protocol):
    """A place outside the database that knows a checkpoint this log signed."""

    @property
    def name(self) -> str:
        """Where the anchor is, for messages ("anchor file /var/..., bucket s3://...")."""
        ...

    def latest(self) -> bytes | None:
        """The latest signed checkpoint note it holds, or None if it holds none yet."""
        ...


class TreeReader(Protocol):
    """What the check reads of the local tree (``storage.logstore.LogStore`` is one)."""

    size: int
    root: bytes

    def consistency_proof(self, size1: int, size2: int) -> tuple[bytes, ...]: ...

    def checkpoint(self, size: int | None = None) -> bytes | None: ...


class LogHaltedError(CorruptionError):
    """The local tree does not equal or extend an anchor: the log refuses to append and sign.

    ``anchor`` names the anchor; ``evidence`` holds the anchor's signed checkpoint (or the
    witness's statement) and the database's latest signed checkpoint.
    """

    def __init__(self, message: str, anchor: str, evidence: tuple[bytes, ...]) -> None:
        super().__init__(message)
        self.anchor = anchor
        self.evidence = evidence


def checkpoint_of(note: bytes) -> Checkpoint:
    return parse_checkpoint(parse_note(note).text)


class AnchorFile:
    """The log's own append-only, fsynced file of the checkpoints it signed."""

    def __init__(self, directory: Path, origin: str, compact_bytes: int = COMPACT_BYTES) -> None:
        self.origin = origin
        self._compact_bytes = compact_bytes
        self.path = directory / f"{hashlib.sha256(origin.encode()).hexdigest()}.checkpoints"
        self.name = f"anchor file {self.path}"
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._latest, self._size = self._load()

    def latest(self) -> bytes | None:
        return self._latest

    def _load(self) -> tuple[bytes | None, int]:
        """The last complete record; a torn last record is cut off (it never reached the db)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None, 0
        latest, offset = None, 0
        while offset + _FRAME <= len(data):
            length = int.from_bytes(data[offset:offset + 4], "big")
            end = offset + 4 + length + 4
            if length > MAX_RECORD_NOTE or end > len(data):
                break
            note = data[offset + 4:end - 4]
            if zlib.crc32(note) != int.from_bytes(data[end - 4:end], "big"):
                break
            latest, offset = note, end
        if len(data) - offset > _FRAME + MAX_RECORD_NOTE:
            raise CorruptionError(
                f"{self.name}: {len(data) - offset} unreadable bytes after offset {offset}, want "
                f"at most one torn record ({_FRAME + MAX_RECORD_NOTE} bytes); restore the file "
                "from a backup"
            )
        if offset < len(data):
            with self.path.open("r+b") as f:
                f.truncate(offset)
                os.fsync(f.fileno())
        if latest is not None:
            try:
                origin = checkpoint_of(latest).origin
            except MalformedError as exc:
                raise CorruptionError(f"{self.name}: the latest record: {exc}") from exc
            if origin != self.origin:
                raise CorruptionError(f"{self.name}: holds origin {origin!r}, want {self.origin!r}")
        return latest, offset

    def append(self, note: bytes) -> None:
        """Append a signed checkpoint and fsync it (the file, and its directory when new)."""
        if len(note) > MAX_RECORD_NOTE:
            raise ValueError(f"anchor record of {len(note)} bytes, want at most {MAX_RECORD_NOTE}")
        record = len(note).to_bytes(4, "big") + note + zlib.crc32(note).to_bytes(4, "big")
        with self._lock:
            if self._size + len(record) > self._compact_bytes:
                write_atomic(self.path, record, 0o600)
                self._size = len(record)
            else:
                self._append(record)
            self._latest = note

    def _append(self, record: bytes) -> None:
        """Append one record and fsync it; on any failure cut the file back to where it was,
        so a half-written record can never sit in front of a later one."""
        new = self._size == 0
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            try:
                try:
                    written = os.write(fd, record)
                    if written != len(record):
                        raise OSError(errno.ENOSPC, f"short write: {written} of {len(record)} bytes")
                    os.fsync(fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, self._size)
                        os.fsync(fd)
                    raise
            finally:
                os.close(fd)
            if new:
                fsync_dir(self.path.parent)
        except OSError as exc:
            kind = DiskFullError if exc.errno in (errno.ENOSPC, errno.EDQUOT) else StorageError
            raise kind(f"appending to {self.name}: {exc.strerror or exc}") from exc
        self._size += len(record)


def check_anchor(hasher: Hasher, tree: TreeReader, anchor: str, note: bytes) -> None:
    """Raise :class:`LogHaltedError` unless the local tree equals or extends ``note``."""
    local = tree.checkpoint() or b""
    try:
        cp = checkpoint_of(note)
    except MalformedError as exc:
        raise LogHaltedError(f"{anchor} holds no readable checkpoint: {exc}", anchor,
                             (note, local)) from exc
    where = f"the local tree (size {tree.size}, root {tree.root.hex()})"
    if cp.size > tree.size:
        raise LogHaltedError(
            f"{where} is smaller than the checkpoint at size {cp.size} in {anchor}", anchor,
            (note, local),
        )
    try:
        proof = tree.consistency_proof(cp.size, tree.size)
        verify_consistency(hasher, cp.size, tree.size, proof, cp.root, tree.root)
    except (VerificationError, CorruptionError) as exc:
        same = "differs from" if cp.size == tree.size else "cannot prove consistency with"
        raise LogHaltedError(
            f"{where} {same} the checkpoint at size {cp.size} (root {cp.root.hex()}) in "
            f"{anchor}: {exc}", anchor, (note, local),
        ) from exc


def check_witness_size(tree: TreeReader, witness: str, size: int) -> None:
    """A witness that cosigned a size beyond the local tree saw a tree this log lost."""
    if size > tree.size:
        statement = f"witness {witness} has cosigned size {size}\n".encode()
        raise LogHaltedError(
            f"the local tree (size {tree.size}) is smaller than the size {size} that witness "
            f"{witness} has cosigned for this log", f"witness {witness}",
            (statement, tree.checkpoint() or b""),
        )
