"""The fetching, hashing and row-writing half of ``auditlog restore``, which may run in worker
processes.

A restore is two kinds of work: fetching, decoding and hashing entry bundles (c2sp.org/tlog-tiles
"Log entries"; boto3 alone spends milliseconds of CPU on each request) and writing their rows,
and folding the tree and checking it, which one process (the writer) does in order. Each worker
process opens the source itself from a picklable :class:`SourceSpec` and answers a task (a run of
bundles) with :class:`Digests`: the SST files holding the rows of its entries
(``storage.restore.write_rows``: entries by index, the leaf-hash index sorted), which the writer
ingests, and one :class:`Digest` per bundle: the RFC 6962 leaf hashes, the stratum of a whole
tile (``storage.restore.tile_stratum``) and the level-0 tile as published, which the writer
compares with the tile the entries give. Nothing a worker returns is trusted more than the
bucket: the writer checks every tile and every signed root, and any failure deletes what was
ingested.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditlog_tlog.client.tiles_source import TileSource, open_fetcher
from auditlog_tlog.storage.restore import RowFiles, Tile, digest_bundle, write_rows
from auditlog_tlog.tree.hashing import get_hasher
from auditlog_tlog.tree.tiles import TILE_WIDTH, tile_width


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
    """Entry bundle ``index`` of ``count`` entries: the stratum of a whole tile (which begins
    with the leaf hashes), else the leaf hashes joined, and the level-0 tile as the source
    publishes it."""

    index: int
    count: int
    leaves: bytes
    tile: Tile | None
    published_tile: bytes


@dataclass(frozen=True, slots=True)
class Digests:
    """A run of bundles: each one's :class:`Digest`, and the SST files of their rows."""

    bundles: list[Digest]
    files: list[str]


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


def digest_bundles(spec: SourceSpec, first: int, end: int, size: int, files: RowFiles) -> Digests:
    """Bundles ``[first, end)`` of the tree of ``size`` leaves, their rows written to SST files
    under ``files``. The source's threads fetch the bundles and tiles; this thread decodes and
    hashes each as it arrives (one thread for the CPU work: no contention for the GIL)."""
    source = open_source(spec)

    def fetch(index: int) -> tuple[bytes, bytes, str]:
        return source.tile(0, index, size), *source.bundle_bytes(index, size)

    digests, entries, leaves = [], [], []
    for index, (published, data, where) in zip(range(first, end),
                                               source.pool.map(fetch, range(first, end)),
                                               strict=True):
        bundle, hashes, tile = digest_bundle(spec.hash_name, data, tile_width(0, index, size),
                                             where)
        digests.append(Digest(index, len(bundle), b"" if tile else b"".join(hashes), tile,
                              published))
        entries += bundle
        leaves += hashes
    return Digests(digests, write_rows(files, first * TILE_WIDTH, entries, leaves))
