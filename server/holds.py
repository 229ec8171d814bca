"""Legal holds on a log's published objects (issue 17, docs/retention.md).

A legal hold (S3 ``PutObjectLegalHold``) keeps an object version from deletion for as long as it
is ON, whatever its COMPLIANCE retain-until date, and is released by setting it OFF. A hold on
the entries ``[begin, end)`` of a log that publishes ``c2sp.org/tlog-tiles`` to a bucket covers
every object a verifier needs to prove them, at the size the bucket holds (``N``):

* the entry bundles ``tile/entries/<i>`` that hold them;
* at every level, the hash tiles on their paths to the root (the tiles whose hashes are
  ancestors of the entries), and the rightmost tile of the level (the incomplete subtrees on
  the right edge of a tree of size ``N`` come from those);
* the checkpoint of size ``N``, ``checkpoints/<N>`` (its history copy: written once).

The hold is then recorded as an entry of the log, an audit event in the one encoding of
``client.event`` (canonical JSON; ``tests/server/test_holds.py`` parses it with the client)::

    {"action":"auditlog.legal_hold.place","actor":"<principal>","attributes":{"begin":0,
     "end":100,"objects":7,"reason":"case 17","size":256},"outcome":"success",
     "request_id":"","resource":"<origin>","source":"auditlog-server",
     "time":"...Z","v":1}

(``auditlog.legal_hold.release`` for a release). The objects are held first and the entry
appended after, so a recorded hold is always in place; a hold that fails half-way may be
retried (placing a hold twice is harmless). The objects depend on the published size, which
grows: a release names the size of the hold it releases (its entry's ``size``), and so the
same objects.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import Final

from auditlog_tlog.common.s3 import LockedBucket, S3Error, retrying
from auditlog_tlog.common.s3holds import set_legal_hold, stat
from auditlog_tlog.server.bucket_anchor import translated
from auditlog_tlog.server.publisher import WIDTH, history_name
from auditlog_tlog.server.records import server_event
from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.tree.errors import InvalidRangeError, MalformedError, NotFoundError
from auditlog_tlog.tree.tiles import entries_path, tile_path

PLACE: Final = "auditlog.legal_hold.place"
RELEASE: Final = "auditlog.legal_hold.release"
MAX_REASON_BYTES: Final = 1024


@dataclass(frozen=True, slots=True)
class HoldResult:
    objects: int
    size: int
    index: int
    leaf_hash: bytes


def held_objects(size: int, begin: int, end: int) -> list[str]:
    """The object names (under the log's prefix) that prove entries ``[begin, end)`` in the tree
    of ``size`` entries as published: bundles, tiles on their paths and right edge, checkpoint."""
    if not 0 <= begin < end <= size:
        raise ValueError(f"range [{begin}, {end}): want 0 <= begin < end <= {size}")
    names: list[str] = []
    level = 0
    while (count := size >> (8 * level)) > 0:
        first, last = (begin >> (8 * level)) // WIDTH, ((end - 1) >> (8 * level)) // WIDTH
        edge = (count - 1) // WIDTH
        for index in sorted({*range(first, last + 1), edge}):
            width = min(WIDTH, count - index * WIDTH)
            names.append(tile_path(level, index, width))
            if level == 0 and index <= last:
                names.append(entries_path(index, width))
        level += 1
    names.append(history_name(size))
    return names


def _published_at(bucket: LockedBucket, size: int) -> bool:
    """Whether the bucket holds the checkpoint of ``size`` (so the tiles of that size too)."""
    try:
        return stat(bucket, history_name(size)) is not None
    except S3Error as exc:
        raise translated(exc) from exc


def _set_all(bucket: LockedBucket, names: list[str], on: bool, attempts: int) -> None:
    for name in names:
        try:
            retrying(partial(set_legal_hold, bucket, name, on),
                     f"S3 legal hold of {bucket.prefix}{name}", attempts)
        except S3Error as exc:
            raise translated(exc) from exc


async def legal_hold(runtime: LogRuntime, actor: str, begin: int, end: int, release: bool,
                     reason: str, at_size: int | None = None) -> HoldResult:
    """Place or release the hold on the published objects of ``[begin, end)``, then record it."""
    origin = runtime.config.origin
    publisher, publish = runtime.publisher, runtime.config.publish
    if publisher is None or publish is None:
        raise NotFoundError(f"log {origin} does not publish to a bucket: there are no objects "
                            "to hold (see docs/publication.md)")
    if len(reason.encode()) > MAX_REASON_BYTES:
        raise MalformedError(f"reason: got {len(reason.encode())} bytes, want at most "
                             f"{MAX_REASON_BYTES}")
    published = publisher.published
    size = published if at_size is None else at_size
    if size > published:
        raise InvalidRangeError(f"size {size}: want at most {published}, the size the bucket "
                                "holds")
    if not begin < end <= size:
        raise InvalidRangeError(
            f"range [{begin}, {end}): want begin < end <= {size}, the size the bucket holds "
            "(entries not yet published cannot be held; wait for publication)")
    if size != published and not await asyncio.to_thread(_published_at, publisher.bucket, size):
        raise InvalidRangeError(f"size {size}: the bucket holds no checkpoint of that size; want "
                                "a size the log published (a hold entry's \"size\")")
    names = held_objects(size, begin, end)
    await asyncio.to_thread(_set_all, publisher.bucket, names, not release, publish.max_attempts)
    attributes: dict[str, int | str] = {"begin": begin, "end": end, "objects": len(names),
                                        "size": size}
    if reason:
        attributes["reason"] = reason
    entry = server_event(actor, RELEASE if release else PLACE, origin, attributes,
                         publisher.clock.now())
    (result,) = await runtime.append([entry], False)
    return HoldResult(len(names), size, result.outcome.index, result.outcome.leaf_hash)
