"""Layout 2 of the database: every stratum in the column family of its own (storage/db.py).

A database written by an older version (layout 1) holds a log's strata (``LogKeys.tile``)
among its other records, in the default column family. :func:`move_strata` moves them, when
the log opens (storage.logstore), before anything of it is read or written::

    default column family        strata column family
    L<id> T <lvl> <n>   ──────►   L<id> T <lvl> <n>      MOVE_BATCH strata a synced batch,
                                                          each put there and deleted here

Crash safety: each batch puts its strata into the new column family and deletes them from the
old one in one WriteBatch (atomic across column families), so at every instant each stratum is
in exactly one of the two; a kill during the move loses nothing, and the next open moves what
is left. Cost: one seek per open once moved (a range of the default column family with no
strata left); the move itself reads and writes each stratum once, ~640 MB for a log of 10^7
entries. There is no way back: an older version cannot read a database of layout 2.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.layout import LogKeys

log = logging.getLogger("auditlog.storage")

MOVE_BATCH: Final = 1024  # strata a batch: 16 MiB at most


def move_strata(db: Database, keys: LogKeys, origin: str) -> int:
    """Move the log's strata from the default column family to their own; return how many."""
    begin, end = keys.tiles_range()
    moved = 0
    started = time.monotonic()
    while True:
        batch = db.batch()
        first = last = b""
        count = 0
        for key, value in db.scan(begin, end):
            db.put_stratum(batch, key, value)
            first = first or key
            last = key
            count += 1
            if count == MOVE_BATCH:
                break
        if not count:
            break
        batch.delete_range(first, last + b"\x00")
        db.write(batch)
        moved += count
        begin = last + b"\x00"
    if moved:
        log.warning("log %r: moved %d strata to the column family %r (database layout 2) in "
                    "%.1f s", origin, moved, "strata", time.monotonic() - started)
    return moved
