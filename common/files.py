"""Durable file writes and secret-file checks.

- :func:`write_atomic` replaces a file so that a crash leaves the old or the new one, never a mix.
- :func:`write_once` creates a file that is never rewritten: it appears complete or not at all.
- :func:`check_private_mode` refuses a secret (key, token) that group or others may read.
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


def _write_temp(path: Path, data: bytes, mode: int) -> Path:
    """Write and fsync ``data`` to a fresh temporary file beside ``path``; return its path."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
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


def write_once(path: Path, data: bytes, mode: int = 0o444) -> bool:
    """Create ``path`` holding ``data`` unless it exists; never rewrite it.

    The data is written to a temporary file and hard-linked into place, so a reader (or a crash)
    never sees a partial file, and of two concurrent writers exactly one wins. Returns False
    when the file already existed (its content is left as it was).
    """
    tmp = _write_temp(path, data, mode)
    try:
        os.link(tmp, path)
        written = True
    except FileExistsError:
        written = False
    finally:
        os.unlink(tmp)
    fsync_dir(path.parent)
    return written


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
