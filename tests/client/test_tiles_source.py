"""TileSource over a directory of tlog-tiles objects: proofs equal the store's at every size,
entries come back in order, and a missing, short or oversized object is a precise error."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlog_tlog.client.s3tiles import S3Fetcher
from auditlog_tlog.client.tiles_source import (
    FileFetcher,
    HttpFetcher,
    TileSource,
    history_path,
    open_fetcher,
)
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.errors import InvalidRangeError, MalformedError, NotFoundError, StorageError
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.tiles import encode_entry_bundle, entries_path, tile_path, tile_width

ORIGIN = "tiles.example/log"
SIZE = 70_000  # three tile levels, partial tiles on each


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, LogStore]]:
    directory = tmp_path_factory.mktemp("tiles")
    db = Database(directory / "db")
    store = LogStore(db, ORIGIN, SHA256)
    for begin in range(0, SIZE, 10_000):
        store.commit(store.prepare([b"entry %d" % i for i in range(begin, begin + 10_000)], False))
        store.commit_checkpoint(begin + 10_000, b"checkpoint %d\n" % (begin + 10_000))
    root = directory / "bucket"
    objects = {"checkpoint": f"{ORIGIN}\n{SIZE}\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n"
                             f"— {ORIGIN} AAAAAAAAAA==\n".encode()}
    for level in range(3):
        for index in range(-(-(SIZE >> (8 * level)) // 256)):
            width = tile_width(level, index, SIZE)
            objects[tile_path(level, index, width)] = (store.tile(level, index) or b"")[:32 * width]
    for index in range(-(-SIZE // 256)):
        width = tile_width(0, index, SIZE)
        objects[entries_path(index, width)] = encode_entry_bundle(
            store.entries(index * 256, index * 256 + width))
    objects[history_path(10_000)] = b"old"
    for path, body in objects.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(body)
    yield root, store
    db.close()


def test_proofs_equal_the_stores_at_any_size(published: tuple[Path, LogStore]) -> None:
    root, store = published
    source = TileSource(FileFetcher(root), ORIGIN, SHA256)
    assert source.checkpoint().size == SIZE
    rng = random.Random(5)
    for _ in range(200):
        size = rng.choice([rng.randint(1, SIZE), SIZE, 256 * rng.randint(1, SIZE // 256)])
        index = rng.randrange(size)
        found = source.inclusion_proof(index=index, size=size)
        assert found.proof == store.inclusion_proof(index, size)
        assert found.leaf_hash == store.leaf_hash(index)
        assert source.consistency_proof(index, size).proof == store.consistency_proof(index, size)
    by_hash = source.inclusion_proof(leaf_hash=SHA256.hash_leaf(b"entry 69999"))
    assert (by_hash.index, by_hash.size) == (69_999, SIZE)
    with pytest.raises(NotFoundError, match="no entry with leaf hash"):
        source.inclusion_proof(leaf_hash=SHA256.hash_leaf(b"never logged"))
    with pytest.raises(InvalidRangeError, match="beyond the source's latest checkpoint"):
        source.consistency_proof(1, SIZE + 1)
    source.close()


def test_entries_and_history(published: tuple[Path, LogStore]) -> None:
    root, _ = published
    source = TileSource(FileFetcher(root), ORIGIN, SHA256, workers=2)
    pages = list(source.entry_pages(250, 1000))
    assert [first for first, _ in pages] == [250, 256, 512, 768]
    assert [e for _, e in source.entries(69_990, SIZE)] == [b"entry %d" % i for i in range(69_990, SIZE)]
    assert list(source.checkpoint_sizes()) == [10_000]
    assert source.checkpoint_at(10_000) == b"old" and source.checkpoint_at(20_000) is None
    with pytest.raises(InvalidRangeError, match=r"\[0, 70001\) is not within"):
        list(source.entry_pages(0, SIZE + 1))
    source.close()


def test_broken_objects_are_named(published: tuple[Path, LogStore], tmp_path: Path) -> None:
    root, _ = published
    source = TileSource(FileFetcher(root), ORIGIN, SHA256)
    source.checkpoint()
    (tmp_path / "tile" / "0").mkdir(parents=True)
    (tmp_path / "tile" / "0" / "000").write_bytes(b"short")
    (tmp_path / "checkpoint").write_bytes((root / "checkpoint").read_bytes())
    broken = TileSource(FileFetcher(tmp_path), ORIGIN, SHA256)
    with pytest.raises(MalformedError, match=r"tile/0/000: got 5 bytes, want 8192"):
        broken.inclusion_proof(index=3, size=SIZE)
    with pytest.raises(NotFoundError, match=r"tile 0/1 of width 256: none of .*tile/0/001"):
        broken.tile(0, 1, SIZE)
    with pytest.raises(NotFoundError, match=r"entry bundle 4: none of .*tile/entries/004"):
        broken.bundle(4, SIZE)
    with pytest.raises(StorageError, match="larger than 100 bytes"):
        FileFetcher(root).get("tile/0/000", 100)
    for s in (source, broken):
        s.close()


def test_sources_by_url(tmp_path: Path) -> None:
    assert isinstance(open_fetcher(f"file://{tmp_path}"), FileFetcher)
    http = open_fetcher("https://tiles.example/log/")
    assert isinstance(http, HttpFetcher) and http.where("checkpoint") == "https://tiles.example/log/checkpoint"
    s3 = open_fetcher("s3://bucket/some/prefix/", s3_endpoint="http://127.0.0.1:9")
    assert isinstance(s3, S3Fetcher) and s3.where("tile/0/000") == "s3://bucket/some/prefix/tile/0/000"
    for bad in ("ftp://x/y", "s3:///prefix", "relative/dir"):
        with pytest.raises(ValueError, match="want s3://BUCKET/PREFIX"):
            open_fetcher(bad)


def test_an_unreachable_server_is_a_storage_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        fetcher = HttpFetcher(f"http://127.0.0.1:{port}/log", timeout=5)
        with pytest.raises(StorageError, match=rf"http://127.0.0.1:{port}/log/checkpoint: cannot fetch"):
            fetcher.get("checkpoint", 100)
