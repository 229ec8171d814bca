"""The bytes of c2sp.org/tlog-tiles hash tiles and entry bundles, read from a log's store: what
the HTTP read path serves (server/tiles_http.py) and what publication writes to S3
(server/publisher.py). Tiles are stored ready to serve (storage/strata.py): nothing is
recomputed."""

from __future__ import annotations

from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.storage.strata import WIDTH
from auditlog_tlog.tree.errors import NotFoundError
from auditlog_tlog.tree.hashing import HASH_SIZE
from auditlog_tlog.tree.tiles import encode_entry_bundle, entries_path, tile_path


def hash_tile(store: LogStore, level: int, index: int, width: int) -> bytes:
    """The tile ``level``/``index`` of ``width`` hashes, from the stored stratum as is."""
    row = store.tile(level, index) or b""
    if len(row) < width * HASH_SIZE:
        raise NotFoundError(
            f"tile {tile_path(level, index, width)} does not exist at the log's size {store.size}"
        )
    return row[: width * HASH_SIZE]


def entry_bundle(store: LogStore, index: int, width: int) -> bytes:
    """The entry bundle ``index`` of ``width`` entries."""
    begin = index * WIDTH
    if begin + width > store.size:
        raise NotFoundError(
            f"entry bundle {entries_path(index, width)} is beyond the log's size {store.size}"
        )
    return encode_entry_bundle(store.entries(begin, begin + width))
