"""A read-only log over c2sp.org/tlog-tiles objects: a bucket, a web server, or a directory.

The objects (c2sp.org/tlog-tiles "Merkle Tree", "Log entries", "Checkpoints"; paths in
``tree/tiles.py``), under one prefix::

    checkpoint                         the latest signed checkpoint note
    tile/<L>/<N>[.p/<W>]               hash tiles
    tile/entries/<N>[.p/<W>]           entry bundles (uint16 big-endian length || entry)
    checkpoints/<size, 20 digits>      every published checkpoint (our publisher's history; an
                                       HTTP source cannot list it, so only its latest is known)

Where they come from is a :class:`Fetcher`, chosen from a URL by :func:`open_fetcher`:
``s3://BUCKET/PREFIX`` (boto3; endpoint from ``--s3-endpoint`` or ``$AWS_ENDPOINT_URL``,
credentials from the usual ``AWS_*`` variables), ``https://...`` or ``http://...`` (the base URL,
e.g. the log server's ``http://host:port/<origin>``), or ``file:///dir`` (a mirror on disk).

:class:`TileSource` answers the reads of ``client.sdk.LogClient`` from those objects, so the
verifier, ``audit``, ``prove``, ``consistency`` and ``entries`` run without the log server.
Proofs are built like transparency-dev's tile hash reader: a node at tree level ``8T + r`` is the
root of ``2^r`` consecutive hashes of a tile at tile level ``T`` (``tree/proof.py`` names the
nodes). Nothing here is trusted: every proof and entry is checked by the caller against a signed
checkpoint, as one from the server would be. A tile is fetched at the width the proof's tree
size gives it, else full, else at the width of the latest checkpoint (a longer tile starts with
the same hashes).
"""

from __future__ import annotations

import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Final, Protocol, TypeVar

from auditlog_tlog.client.answers import ConsistencyProof, InclusionProof, SignedCheckpoint
from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.errors import InvalidRangeError, MalformedError, NotFoundError, StorageError
from auditlog_tlog.tree.hashing import HASH_SIZE, Hasher
from auditlog_tlog.tree.nodes import NodeID
from auditlog_tlog.tree.note import MAX_NOTE_SIZE, parse_note
from auditlog_tlog.tree.proof import ProofPlan, consistency_plan, inclusion_plan
from auditlog_tlog.tree.tiles import (
    MAX_ENTRY_SIZE,
    TILE_WIDTH,
    decode_entry_bundle,
    entries_path,
    tile_path,
    tile_width,
)

T = TypeVar("T")
MAX_NOTE: Final = MAX_NOTE_SIZE
MAX_TILE: Final = TILE_WIDTH * HASH_SIZE
MAX_BUNDLE: Final = TILE_WIDTH * (2 + MAX_ENTRY_SIZE)
HISTORY: Final = "checkpoints/"
_HISTORY_NAME: Final = re.compile(r"[0-9]{20}")


def history_path(size: int) -> str:
    """``checkpoints/<size as 20-digit zero-padded decimal>``."""
    return f"{HISTORY}{size:020d}"


class Fetcher(Protocol):
    """Reads objects by path under one prefix; ``NotFoundError`` for a missing one."""

    def get(self, path: str, limit: int) -> bytes: ...

    def list(self, prefix: str) -> list[str] | None:
        """Paths under ``prefix``, sorted; None when the source cannot list."""

    def where(self, path: str) -> str:
        """The full name of the object at ``path``, for messages."""


def _too_large(where: str, limit: int) -> StorageError:
    return StorageError(f"{where}: larger than {limit} bytes, want at most {limit}")


class HttpFetcher:
    """GETs under a base URL (http:// or https://)."""

    def __init__(self, base_url: str, timeout: float = 30.0, token: str | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def where(self, path: str) -> str:
        return f"{self.base}/{path}"

    def get(self, path: str, limit: int) -> bytes:
        request = urllib.request.Request(self.where(path), headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body: bytes = response.read(limit + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (404, 410):
                raise NotFoundError(f"{self.where(path)}: not found (HTTP {exc.code})") from None
            raise StorageError(f"{self.where(path)}: HTTP {exc.code}, want 200") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StorageError(f"{self.where(path)}: cannot fetch: {reason}") from None
        if len(body) > limit:
            raise _too_large(self.where(path), limit)
        return body

    def list(self, prefix: str) -> list[str] | None:
        return None


class FileFetcher:
    """Files under a directory (a mirror of a bucket, e.g. made with ``aws s3 sync``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._base = os.fspath(root)  # joined as strings: pathlib costs ~20 us a fetch

    def where(self, path: str) -> str:
        return f"{self._base}/{path}"

    def get(self, path: str, limit: int) -> bytes:
        try:
            with open(f"{self._base}/{path}", "rb") as f:
                # read() of ``limit + 1`` would allocate the whole limit (16 MiB for a bundle)
                body = f.read(min(os.fstat(f.fileno()).st_size, limit) + 1)
        except FileNotFoundError:
            raise NotFoundError(f"{self.where(path)}: no such file") from None
        except OSError as exc:
            raise StorageError(f"{self.where(path)}: {exc.strerror}") from None
        if len(body) > limit:
            raise _too_large(self.where(path), limit)
        return body

    def list(self, prefix: str) -> list[str] | None:
        directory = self.root / prefix
        if not directory.is_dir():
            return []
        return sorted(prefix + p.name for p in directory.iterdir() if p.is_file())


def open_fetcher(url: str, *, s3_endpoint: str | None = None, token: str | None = None,
                 timeout: float = 30.0) -> Fetcher:
    """The fetcher for ``s3://BUCKET/PREFIX``, ``http(s)://BASE`` or ``file:///DIR``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"source {url!r}: want s3://BUCKET/PREFIX")
        from auditlog_tlog.client.s3tiles import S3Fetcher  # boto3 only when it is needed

        endpoint = s3_endpoint or os.environ.get("AWS_ENDPOINT_URL") or None
        return S3Fetcher(parts.netloc, parts.path, endpoint)
    if parts.scheme in ("http", "https"):
        return HttpFetcher(url, timeout=timeout, token=token)
    if parts.scheme == "file":
        return FileFetcher(Path(urllib.parse.unquote(parts.path)))
    raise ValueError(f"source {url!r}: want s3://BUCKET/PREFIX, https://BASE-URL or file:///DIR")


def prefetch(tasks: Iterable[Callable[[], T]], pool: Executor, window: int) -> Iterator[T]:
    """Run ``tasks`` in ``pool``, at most ``window`` ahead, and yield their results in order."""
    pending: list[Future[T]] = []
    it = iter(tasks)
    try:
        for task in it:
            pending.append(pool.submit(task))
            if len(pending) >= window:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()
    finally:
        for future in pending:
            future.cancel()


class TileSource:
    """The read calls of ``LogClient``, answered from tlog-tiles objects (nothing verified)."""

    def __init__(self, fetcher: Fetcher, origin: str, hasher: Hasher, *, workers: int = 8,
                 cache_tiles: int = 1024) -> None:
        if workers < 1:
            raise ValueError(f"workers: got {workers}, want at least 1")
        self.fetcher, self.origin, self.hasher = fetcher, origin, hasher
        self.address = fetcher.where("")
        self.workers = workers
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="tiles")
        self._tiles: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()  # the cache is shared with the pool's threads
        self._cache_tiles = cache_tiles
        self._latest: SignedCheckpoint | None = None

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint(self) -> SignedCheckpoint:
        """The latest checkpoint object, its size and the names of its other signers."""
        note = self.fetcher.get("checkpoint", MAX_NOTE)
        try:
            parsed = parse_note(note)
            size = parse_checkpoint(parsed.text).size
        except MalformedError as exc:
            raise MalformedError(f"{self.fetcher.where('checkpoint')}: {exc}") from None
        names = tuple(dict.fromkeys(s.name for s in parsed.signatures if s.name != self.origin))
        self._latest = SignedCheckpoint(note, size, names)
        return self._latest

    def latest_size(self) -> int:
        """The size of the latest checkpoint (fetched once)."""
        return (self._latest or self.checkpoint()).size

    def checkpoint_at(self, size: int) -> bytes | None:
        """The published checkpoint of exactly ``size``, or None."""
        latest = self._latest or self.checkpoint()
        if size == latest.size:
            return latest.note
        try:
            return self.fetcher.get(history_path(size), MAX_NOTE)
        except NotFoundError:
            return None

    def checkpoint_sizes(self, begin: int = 0) -> Iterator[int]:
        """The sizes in the checkpoint history (only the latest if the source cannot list)."""
        names = self.fetcher.list(HISTORY)
        if names is None:
            names = [history_path(self.latest_size())]
        sizes = sorted(int(n[len(HISTORY):]) for n in names
                       if _HISTORY_NAME.fullmatch(n[len(HISTORY):]))
        yield from (s for s in sizes if s >= begin)

    # -- tiles and nodes -----------------------------------------------------------------------
    def tile(self, level: int, index: int, size: int) -> bytes:
        """The first ``tile_width(level, index, size)`` hashes of a tile (cached)."""
        width = tile_width(level, index, size)
        if width == 0:
            raise InvalidRangeError(f"tile {level}/{index} does not exist at size {size}")
        with self._lock:
            have = self._tiles.get((level, index), b"")
            if len(have) >= width * HASH_SIZE:
                self._tiles.move_to_end((level, index))
                return have[: width * HASH_SIZE]
        latest = tile_width(level, index, self.latest_size())
        missing: list[str] = []
        for w in dict.fromkeys((width, TILE_WIDTH, latest)):
            if w < width:
                continue
            path = tile_path(level, index, w)
            try:
                data = self.fetcher.get(path, MAX_TILE)
            except NotFoundError:
                missing.append(self.fetcher.where(path))
                continue
            if len(data) != w * HASH_SIZE:
                raise MalformedError(f"{self.fetcher.where(path)}: got {len(data)} bytes, "
                                     f"want {w * HASH_SIZE}")
            with self._lock:
                self._tiles[(level, index)] = data
                if len(self._tiles) > self._cache_tiles:
                    self._tiles.popitem(last=False)
            return data[: width * HASH_SIZE]
        raise NotFoundError(f"tile {level}/{index} of width {width}: none of {', '.join(missing)}")

    def remember_tile(self, level: int, index: int, data: bytes) -> None:
        """Put a tile fetched elsewhere (a restore's worker process) into the cache."""
        with self._lock:
            if len(data) > len(self._tiles.get((level, index), b"")):
                self._tiles[(level, index)] = data
                if len(self._tiles) > self._cache_tiles:
                    self._tiles.popitem(last=False)

    def node(self, node: NodeID, size: int) -> bytes:
        """The hash of a complete node of the tree of ``size`` leaves."""
        row = node.level % 8
        first = node.index << row  # its first hash in the tile level below it
        tile_index, position = divmod(first, TILE_WIDTH)
        data = self.tile(node.level // 8, tile_index, size)
        hashes = [data[i * HASH_SIZE:(i + 1) * HASH_SIZE]
                  for i in range(position, position + (1 << row))]
        while len(hashes) > 1:
            hashes = [self.hasher.hash_children(hashes[i], hashes[i + 1])
                      for i in range(0, len(hashes), 2)]
        return hashes[0]

    def _fold(self, plan: ProofPlan, size: int) -> tuple[bytes, ...]:
        return plan.fold(self.hasher, [self.node(n, size) for n in plan.ids])

    def _check_size(self, size: int) -> None:
        if size > self.latest_size():
            raise InvalidRangeError(f"tree size {size} is beyond the source's latest checkpoint "
                                    f"(size {self.latest_size()}), want <= {self.latest_size()}")

    # -- proofs and entries --------------------------------------------------------------------
    def inclusion_proof(self, *, index: int | None = None, leaf_hash: bytes | None = None,
                        size: int | None = None) -> InclusionProof:
        """PATH for an entry given by index or leaf hash (found by scanning the level-0 tiles)."""
        if (index is None) == (leaf_hash is None):
            raise ValueError("give exactly one of index and leaf_hash")
        size = self.latest_size() if size is None else size
        self._check_size(size)
        if index is None:
            assert leaf_hash is not None
            index = self._find_leaf(leaf_hash, size)
        proof = self._fold(inclusion_plan(index, size), size)
        return InclusionProof(index, size, self.node(NodeID(0, index), size), proof,
                              self.checkpoint_at(size) or b"")

    def _find_leaf(self, leaf_hash: bytes, size: int) -> int:
        if len(leaf_hash) != HASH_SIZE:
            raise MalformedError(f"leaf hash of {len(leaf_hash)} bytes, want {HASH_SIZE}")
        count = -(-size // TILE_WIDTH)
        tasks = (partial(self.tile, 0, n, size) for n in range(count))
        for n, data in enumerate(prefetch(tasks, self.pool, 2 * self.workers)):
            for i in range(0, len(data), HASH_SIZE):
                if data[i:i + HASH_SIZE] == leaf_hash:
                    return n * TILE_WIDTH + i // HASH_SIZE
        raise NotFoundError(f"no entry with leaf hash {leaf_hash.hex()} in the first {size} "
                            f"entries of {self.address}")

    def consistency_proof(self, size1: int, size2: int | None = None) -> ConsistencyProof:
        size2 = self.latest_size() if size2 is None else size2
        self._check_size(size2)
        return ConsistencyProof(size1, size2, self._fold(consistency_plan(size1, size2), size2))

    def bundle_bytes(self, index: int, size: int) -> tuple[bytes, str]:
        """Entry bundle ``index`` as published, at least as wide as at ``size``, and its name."""
        width = tile_width(0, index, size)
        missing: list[str] = []
        for w in dict.fromkeys((width, TILE_WIDTH, tile_width(0, index, self.latest_size()))):
            if w < width:
                continue
            path = entries_path(index, w)
            try:
                return self.fetcher.get(path, MAX_BUNDLE), self.fetcher.where(path)
            except NotFoundError:
                missing.append(self.fetcher.where(path))
        raise NotFoundError(f"entry bundle {index}: none of {', '.join(missing)}")

    def bundle(self, index: int, size: int) -> list[bytes]:
        """The entries of bundle ``index`` in the tree of ``size`` leaves."""
        data, where = self.bundle_bytes(index, size)
        try:
            entries = decode_entry_bundle(data)
        except MalformedError as exc:
            raise MalformedError(f"{where}: {exc}") from None
        width = tile_width(0, index, size)
        if len(entries) < width:
            raise MalformedError(f"{where}: got {len(entries)} entries, want at least {width}")
        return entries[:width]

    def entry_pages(self, begin: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
        """Entries of [begin, end) as (index of the first, entries) pages, one per bundle."""
        size = self.latest_size()
        if not 0 <= begin <= end <= size:
            raise InvalidRangeError(f"range [{begin}, {end}) is not within the source's "
                                    f"[0, {size})")
        if begin == end:
            return
        first, last = begin // TILE_WIDTH, (end - 1) // TILE_WIDTH
        tasks = (partial(self.bundle, n, end) for n in range(first, last + 1))
        for n, entries in zip(range(first, last + 1),
                              prefetch(tasks, self.pool, 2 * self.workers), strict=True):
            low = max(begin - n * TILE_WIDTH, 0)
            yield n * TILE_WIDTH + low, entries[low:]

    def entries(self, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        for first, page in self.entry_pages(begin, end):
            for i, entry in enumerate(page):
                yield first + i, entry
