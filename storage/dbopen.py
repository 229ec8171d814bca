"""Opening the server's RocksDB (storage/db.py has the key space and the rules): raw mode,
paranoid checks, the WAL recovery mode "absolute consistency" (or, for the torn tail record a
crash leaves, "tolerate corrupted tail records", still failing on any checksum mismatch), the
strata's column family, checksums verified on every read, and a memtable bloom filter for the
dedup's misses. An existing database is first opened read-only and checked against
``AUDITLOG-WAL`` (storage/walmark.py), and only then opened for writing."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Final

from rocksdict import AccessType, Cache, DBRecoveryMode, Options, Rdict, ReadOptions

from auditlog_tlog.storage.rocks import (
    MEMTABLE_BLOOM_RATIO,
    strata_options,
    table_options,
    translate,
)
from auditlog_tlog.storage.walmark import (
    check_sequence,
    explain,
    torn_tail,
    wal_files,
    write_mark,
)

log = logging.getLogger("auditlog.storage")

STRATA: Final = "strata"  # the column family of the strata


def _options(cache: Cache, create: bool, mode: DBRecoveryMode) -> Options:
    options = Options(raw_mode=True)
    options.create_if_missing(create)
    options.set_paranoid_checks(True)
    options.set_wal_recovery_mode(mode)
    options.set_block_based_table_factory(table_options(cache))
    # Every new entry's dedup lookup misses: a bloom filter spares it the memtable's skip
    # list (docs/speed.md, "Dedup misses in the memtable").
    options.set_memtable_prefix_bloom_ratio(MEMTABLE_BLOOM_RATIO)
    options.set_memtable_whole_key_filtering(True)
    return options


def open_rdict(path: Path, cache: Cache, create: bool) -> Rdict:
    """The database at ``path`` opened for writing, with the strata's column family; an existing
    one is opened read-only and checked first (storage/walmark.py)."""
    mode = DBRecoveryMode.absolute_consistency()
    if not create:
        mode = _checked_mode(path, cache)
    where = f"cannot open database at {path}"
    try:
        db = _open_with(path, cache, create, mode, read_only=False)
    except Exception as exc:  # rocksdict raises plain Exception for lock, I/O and corruption
        raise explain(path, translate(exc, where)) from exc
    write_mark(path, db)
    return db


def _checked_mode(path: Path, cache: Cache) -> DBRecoveryMode:
    """Open read-only (nothing is written or deleted), check, and return the WAL recovery
    mode to open with: absolute consistency, or tolerating the torn tail a crash leaves."""
    where = f"cannot open database at {path}"
    mode = DBRecoveryMode.absolute_consistency()
    try:
        db = _open_with(path, cache, False, mode, read_only=True)
    except Exception as exc:
        if not torn_tail(exc):
            raise explain(path, translate(exc, where)) from exc
        # The WAL ends inside a record: a write a crash cut off, never acknowledged.
        log.warning("%s: the last WAL record is incomplete (%s), dropping it: a crash "
                    "interrupted its write; WAL files: %s", path, exc,
                    ", ".join(wal_files(path)))
        mode = DBRecoveryMode.tolerate_corrupted_tail_records()
        try:
            db = _open_with(path, cache, False, mode, read_only=True)
        except Exception as again:
            raise explain(path, translate(again, where)) from again
    try:
        check_sequence(path, db)
    finally:
        db.close()
    return mode


def _open_with(path: Path, cache: Cache, create: bool, mode: DBRecoveryMode,
               read_only: bool) -> Rdict:
    """Open with the strata's column family: created if missing when writable (a
    database of layout 1 has none); a read-only open names only the ones there are."""
    options = _options(cache, create, mode)
    families = [STRATA]
    access = AccessType.read_write()
    if read_only:
        access = AccessType.read_only(False)
        families = [n for n in Rdict.list_cf(os.fspath(path)) if n == STRATA]
    else:
        options.create_missing_column_families(True)
    db = Rdict(os.fspath(path), options, access_type=access,
               column_families={name: strata_options(cache) for name in families})
    read = ReadOptions()
    read.set_verify_checksums(True)
    db.set_read_options(read)
    return db
