"""Durable file writes and secret-file checks.

- :func:`write_atomic` replaces a file so that a crash leaves the old or the new one, never a mix.
- :func:`write_once` creates a file that is never rewritten: it appears complete or not at all.
- :func:`check_private_mode` refuses a secret (key, token) that group or others may read.
- :func:`create_secret` / :func:`read_secret` write a new secret (mode 0600, durable) and read
  one back (mode checked, size bounded).
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a created or renamed file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(path: str | Path, data: bytes, mode: int, sync: bool = True) -> str:
    """Write and fsync ``data`` to a fresh temporary file beside ``path``; return its path.
    Without ``sync`` the data is written, not fsynced. (Plain strings and ``os`` calls: the
    witness writes one archive object per request through here.)"""
    head, tail = os.path.split(path)
    tmp = os.path.join(head, f".{tail}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``: temporary file, fsync, rename, fsync of the directory."""
    tmp = _write_temp(path, data, mode)
    try:
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def write_once(path: str | Path, data: bytes, mode: int = 0o444, sync: bool = True) -> bool:
    """Create ``path`` holding ``data`` unless it exists; never rewrite it.

    The data is written to a temporary file and hard-linked into place, so a reader never sees
    a partial file, and of two concurrent writers exactly one wins. Returns False when the file
    already existed (its content is left as it was). With ``sync`` (the default) the file and
    its directory are fsynced, so a crash never leaves a partial file either; without, the
    caller syncs them (or keeps its own durable copy).
    """
    tmp = _write_temp(path, data, mode, sync)
    try:
        os.link(tmp, path)
        written = True
    except FileExistsError:
        written = False
    finally:
        os.unlink(tmp)
    if sync:
        fsync_dir(Path(path).parent)
    return written


MAX_SECRET = 4096  # bytes; a private key string is under 200


def create_secret(path: Path, text: str) -> bool:
    """Create ``path`` holding ``text`` with mode 0600, durably (file and directory fsynced).

    Returns False, writing nothing, when the file already exists. Missing parent directories
    are created.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return False
    try:
        view = memoryview(text.encode())
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
    return True


def read_secret(path: Path, what: str = "key file") -> str:
    """The text of a secret file whose mode is 0600 or stricter, at most MAX_SECRET bytes."""
    check_private_mode(path, what)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_SECRET + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror}") from exc
    if len(data) > MAX_SECRET:
        raise ValueError(f"{what} {path} is over {MAX_SECRET} bytes: not a key")
    try:
        return data.decode().strip()
    except UnicodeDecodeError:
        raise ValueError(f"{what} {path} is not text: not a key") from None


def check_private_mode(path: Path, what: str = "key file") -> None:
    """Refuse a secret file that group or others may read or write, saying the chmod to run."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise PermissionError(
            f"{what} {path} has mode {mode:04o}; others can read it: run 'chmod 600 {path}'"
        )
