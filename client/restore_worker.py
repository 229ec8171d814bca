"""The fetching and hashing half of ``auditlog restore``, which may run in worker processes.

A restore is two kinds of work: fetching, decoding and hashing entry bundles (c2sp.org/tlog-tiles
"Log entries"; boto3 alone spends milliseconds of CPU on each request), and writing the result
into RocksDB, which holds Python's GIL while it writes. Each worker process opens the source
itself from a picklable :class:`SourceSpec` and answers a task (a run of bundles) with one
:class:`Digest` per bundle: the entries, their RFC 6962 leaf hashes, the stratum of a whole
tile (``storage.restore.tile_stratum``) and the level-0 tile as published, which the writer
compares with the tile the entries give. Nothing a worker returns is trusted more than the
bucket: the writer checks every tile and every signed root.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditlog_tlog.client.tiles_source import TileSource, open_fetcher
from auditlog_tlog.storage.restore import Tile, digest_bundle
from auditlog_tlog.tree.hashing import get_hasher
from auditlog_tlog.tree.tiles import tile_width


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """How to open a source (see ``client.tiles_source.open_fetcher``), in any process."""

    url: str
    origin: str
    hash_name: str
    s3_endpoint: str | None = None
    token: str | None = None
    workers: int = 16


@dataclass(frozen=True, slots=True)
class Digest:
    """Entry bundle ``index``: its entries, their leaf hashes, the stratum of a whole tile, and
    the level-0 tile as the source publishes it."""

    index: int
    entries: list[bytes]
    leaves: list[bytes]
    tile: Tile | None
    published_tile: bytes


_SOURCES: dict[SourceSpec, TileSource] = {}


def open_source(spec: SourceSpec) -> TileSource:
    """The source of ``spec`` in this process (opened once)."""
    source = _SOURCES.get(spec)
    if source is None:
        fetcher = open_fetcher(spec.url, s3_endpoint=spec.s3_endpoint, token=spec.token)
        source = TileSource(fetcher, spec.origin, get_hasher(spec.hash_name), workers=spec.workers)
        _SOURCES[spec] = source
    return source


def close_sources() -> None:
    while _SOURCES:
        _SOURCES.popitem()[1].close()


def digest_bundles(spec: SourceSpec, first: int, end: int, size: int) -> list[Digest]:
    """Bundles ``[first, end)`` of the tree of ``size`` leaves, fetched concurrently."""
    source = open_source(spec)

    def one(index: int) -> Digest:
        published = source.tile(0, index, size)
        data, where = source.bundle_bytes(index, size)
        entries, leaves, tile = digest_bundle(spec.hash_name, data, tile_width(0, index, size), where)
        return Digest(index, entries, leaves, tile, published)

    return list(source.pool.map(one, range(first, end)))
