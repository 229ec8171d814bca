"""What a database directory must still hold before RocksDB may open it for writing
(docs/integrity.md: the log does not trust its own disk).

``AUDITLOG-WAL`` remembers, at every open and close, the newest WAL file and RocksDB's sequence
number. RocksDB only ever deletes a WAL older than the one it writes, and it never reuses a
sequence number; so the newest WAL remembered must still be there, and the sequence number of
the database must not have gone back. Either failing means the MANIFEST or the WAL lost writes:
opened for writing, RocksDB would take the database as it finds it and delete the SST files a
MANIFEST cut short forgot, so :class:`~auditlog_tlog.storage.db.Database` opens it read-only,
checks it here, and only then opens it for writing.

The one damage a crash makes on its own, the last WAL record cut short (its write never
finished, so it was never acknowledged), is recognised by RocksDB's words for it
(:func:`torn_tail`); every other failure to open stops the server.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Final

from rocksdict import Rdict

from auditlog_tlog.common.files import write_atomic
from auditlog_tlog.tree.errors import CorruptionError, StorageError

log = logging.getLogger("auditlog.storage")

WAL_MARK: Final = "AUDITLOG-WAL"
# RocksDB's words for the one damage a crash makes: the last record of the WAL cut short.
_TORN_TAIL: Final = ("error reading trailing data", "truncated record body", "truncated header")


def wal_files(path: Path) -> list[str]:
    """The WAL files of the database at ``path``, oldest first."""
    return sorted(name for name in os.listdir(path) if name.endswith(".log"))


def torn_tail(exc: Exception) -> bool:
    """Whether RocksDB refused to open because the last WAL record ends short."""
    return any(words in str(exc) for words in _TORN_TAIL)


def check_files(path: Path) -> None:
    """Refuse a directory that lost the files RocksDB needs to know what it holds."""
    if not (path / "CURRENT").exists():
        raise CorruptionError(
            f"database at {path} has files but no CURRENT file: it is damaged, not "
            "new; restore it from a backup (refusing to start an empty log over it)"
        )
    want = read_mark(path).get("wal", 0)
    if want:
        newest = max((int(name[:-4]) for name in wal_files(path)), default=-1)
        if newest < want:
            raise CorruptionError(
                f"database at {path}: write-ahead log {want:06d}.log is missing (newest "
                f"on disk: {f'{newest:06d}.log' if newest >= 0 else 'none'}); entries "
                "written since the last flush are gone: restore the database from a backup"
            )


def read_mark(path: Path) -> dict[str, int]:
    """What the last open or close saw: {"wal": newest WAL number, "sequence": RocksDB's}."""
    try:
        mark = json.loads((path / WAL_MARK).read_bytes())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise CorruptionError(f"database at {path}: {WAL_MARK} is damaged: {exc}") from exc
    if not isinstance(mark, dict) or not all(isinstance(v, int) for v in mark.values()):
        raise CorruptionError(f"database at {path}: {WAL_MARK} holds {mark!r}, want "
                              '{"wal": N, "sequence": N}')
    return mark


def write_mark(path: Path, db: Rdict) -> None:
    """Remember the newest WAL and the sequence number of ``db``, open at ``path``."""
    wals = wal_files(path)
    mark = {"wal": int(wals[-1][:-4]) if wals else 0, "sequence": db.latest_sequence_number()}
    try:
        write_atomic(path / WAL_MARK, json.dumps(mark).encode())
    except OSError as exc:  # a full disk: the older mark is still a true lower bound
        log.warning("database at %s: cannot update %s: %s", path, WAL_MARK, exc)


def check_sequence(path: Path, db: Rdict) -> None:
    """Refuse ``db`` (open read-only at ``path``) if its sequence number went back."""
    want = read_mark(path).get("sequence", 0)
    got = db.latest_sequence_number()
    if got < want:
        raise CorruptionError(
            f"database at {path} went back from RocksDB sequence number {want} to "
            f"{got}: its MANIFEST or WAL lost writes (files: "
            f"{', '.join(sorted(os.listdir(path)))}); restore it from a backup"
        )


def explain(path: Path, exc: StorageError) -> StorageError:
    """Name the files a damaged database holds, so the operator knows what to look at."""
    if not isinstance(exc, CorruptionError) or not path.exists():
        return exc
    files = ", ".join(sorted(os.listdir(path)))
    return CorruptionError(f"{exc} (files in {path}: {files}); refusing to open it")
