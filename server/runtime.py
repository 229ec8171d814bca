"""One log as the server runs it: its store and sequencer (the one writer), or why it could not
open; and whether it is halted because its tree does not extend an anchor (``server.anchors``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditlog_tlog.server.anchors import LogHaltedError
from auditlog_tlog.server.appended import Appended
from auditlog_tlog.server.config import LogConfig
from auditlog_tlog.server.cosigning import LogWitnesses
from auditlog_tlog.server.erasure import ErasureRequest
from auditlog_tlog.server.keys import KeyInfo
from auditlog_tlog.server.sequencer import Sequencer
from auditlog_tlog.server.signal import Signal
from auditlog_tlog.storage.batch import AppendOutcome
from auditlog_tlog.storage.index import LogIndex
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.errors import (
    CorruptionError,
    InvalidRangeError,
    MalformedError,
    NotFoundError,
    PrunedError,
)
from auditlog_tlog.tree.hashing import HASH_SIZE

if TYPE_CHECKING:  # only a publishing log has them, and they import boto3 (docs/startup.md)
    from auditlog_tlog.server.publisher import Publisher
    from auditlog_tlog.server.retention import Retention

MAX_PAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Inclusion:
    index: int
    tree_size: int
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    checkpoint: bytes


class LogRuntime:
    def __init__(
        self,
        config: LogConfig,
        verifier_key: str,
        store: LogStore | None = None,
        sequencer: Sequencer | None = None,
        failure: str | None = None,
        keys: tuple[KeyInfo, ...] = (),
        index: LogIndex | None = None,
    ) -> None:
        self.keys = keys
        self.index = index  # the search index (None: search_index = false)
        self.config = config
        self.verifier_key = verifier_key
        self._store = store
        self._sequencer = sequencer
        self.failure = failure
        self.witnesses = LogWitnesses(config)
        self.publisher: Publisher | None = None
        self.retention: Retention | None = None  # pruning and expiry (publishing logs)
        self._unsigned = Signal()  # a log without a sequencer never signs

    @property
    def signed(self) -> Signal:
        """Fired each time the log stores a newly signed checkpoint."""
        return self._unsigned if self._sequencer is None else self._sequencer.signed

    async def append(self, entries: Sequence[bytes], want_receipt: bool,
                     addenda: Sequence[Sequence[bytes]] = ()) -> Appended:
        """Append through the sequencer; with ``acknowledge_after_publication``, return only
        once a checkpoint covering the entries is published to the log's bucket."""
        results = await self.sequencer().append(entries, want_receipt, addenda)
        publish = self.config.publish
        if self.publisher is not None and publish is not None and publish.acknowledge_after_publication:
            await self.publisher.wait_published(max(results.indexes) + 1)
        return results

    @property
    def store(self) -> LogStore:
        if self._store is None:
            raise CorruptionError(f"log {self.config.origin} is unavailable: {self.failure}")
        return self._store

    def sequencer(self) -> Sequencer:
        if self._sequencer is None or self.failure:
            raise CorruptionError(f"log {self.config.origin} refuses writes: {self.failure}")
        return self._sequencer

    @property
    def halted(self) -> LogHaltedError | None:
        """Why the log refuses to append and sign (its tree does not extend an anchor)."""
        return None if self._sequencer is None else self._sequencer.writer.halted

    async def erase(self, request: ErasureRequest) -> tuple[AppendOutcome, int, list[bytes]]:
        """Erase addenda (server/erasure.py): the erasure record, the entry, the digests."""
        return await self.sequencer().erase(request)

    def addendum(self, digest: bytes) -> tuple[bytes, int, int | None]:
        """An addendum's bytes, its entry's index, and the erasure record's index (or None);
        NotFoundError for a digest the log never stored."""
        if len(digest) != HASH_SIZE:
            raise MalformedError(f"digest is {len(digest)} bytes, want {HASH_SIZE}")
        reader = self.store.addenda
        stored = reader.get(digest)
        if stored is not None:
            return stored.data, stored.index, None
        erased = reader.erased(digest)
        if erased is None:
            raise NotFoundError(f"no addendum {digest.hex()} in {self.config.origin}")
        return b"", erased.index, erased.erasure_index

    async def add_cosignatures(self, size: int, lines: bytes) -> list[str]:
        """Verify witness cosignatures of the checkpoint at ``size`` and store them with it."""
        return await self.sequencer().attach_cosignatures(self.witnesses, size, lines)

    async def report_witness_size(self, witness: str, size: int) -> None:
        await self.sequencer().report_witness_size(witness, size)

    def _size(self, size: int | None) -> int:
        store = self.store
        return store.checkpoint_size if size is None else size

    def refuse_if_halted(self) -> None:
        """A halted log's database is behind or off what the log signed: its latest checkpoint
        would be a smaller or another tree, so it is not served (checkpoints at a size still are)."""
        if self._sequencer is not None:
            self._sequencer.writer.refuse_if_halted()

    def latest_checkpoint(self) -> tuple[bytes, int, list[str]]:
        self.refuse_if_halted()
        store = self.store
        size = store.checkpoint_size
        note = store.checkpoint(size)
        if note is None:
            raise NotFoundError(f"log {self.config.origin} has not signed a checkpoint yet")
        return note, size, self.witnesses.attached(note)

    def checkpoint_at(self, size: int) -> tuple[bytes, int, list[str]]:
        note = self.store.checkpoint(size) if size <= self.store.checkpoint_size else None
        if note is None:
            raise NotFoundError(f"log {self.config.origin} signed no checkpoint at size {size}")
        return note, size, self.witnesses.attached(note)

    def checkpoint_page(self, begin: int, limit: int) -> tuple[list[int], bool]:
        sizes = self.store.checkpoint_sizes(begin, limit + 1)
        sizes = [s for s in sizes if s <= self.store.checkpoint_size]
        return sizes[:limit], len(sizes) > limit

    def cosigned_checkpoint(self, min_size: int, wait_s: float) -> tuple[bytes, int, list[str]]:
        """The latest checkpoint of at least ``min_size`` entries meeting the witness quorum,
        waiting up to ``wait_s`` (blocking: call it in a thread)."""
        self.refuse_if_halted()
        if self.witnesses.quorum == 0:
            note, size, names = self.latest_checkpoint()
            if size >= min_size:
                return note, size, names
        else:
            found = self.witnesses.wait_for_quorum(self.store, min_size, wait_s)
            if found is not None:
                return found[1], found[0], self.witnesses.attached(found[1])
        raise NotFoundError(
            f"log {self.config.origin} has no checkpoint of at least {min_size} entries "
            f"cosigned by {self.witnesses.quorum} witnesses yet"
        )

    def inclusion_by_index(self, index: int, size: int | None) -> Inclusion:
        store = self.store
        tree_size = self._size(size)
        leaf_hash, proof = store.inclusion(index, tree_size)
        return Inclusion(index, tree_size, leaf_hash, proof, store.checkpoint(tree_size) or b"")

    def inclusion_by_hash(self, leaf_hash: bytes, size: int | None) -> Inclusion:
        if len(leaf_hash) != HASH_SIZE:
            raise MalformedError(f"leaf_hash is {len(leaf_hash)} bytes, want {HASH_SIZE}")
        index = self.store.index_of(leaf_hash)
        if index is None:
            raise NotFoundError(f"no entry with leaf hash {leaf_hash.hex()} in {self.config.origin}")
        tree_size = self._size(size)
        if index >= tree_size:
            raise InvalidRangeError(
                f"the entry is at index {index}, not in a tree of size {tree_size}"
            )
        return self.inclusion_by_index(index, tree_size)

    def consistency(self, size1: int, size2: int | None) -> tuple[int, int, tuple[bytes, ...]]:
        size2 = self._size(size2)
        return size1, size2, self.store.consistency_proof(size1, size2)

    def entry_pages(self, begin: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
        """[begin, end) in pages of at most max_entries_page entries and ~4 MiB."""
        store = self.store
        if not begin <= end <= store.size:
            raise InvalidRangeError(
                f"range [{begin}, {end}) is not within the log's [0, {store.size})"
            )
        if begin < min(end, store.pruned) and self.publisher is not None:
            bucket = self.publisher.bucket
            raise PrunedError(
                f"entries [{begin}, {min(end, store.pruned)}) were pruned from this server after "
                f"publication (it keeps [{store.pruned}, {store.size})): read them from the bucket, "
                f"e.g. 'auditlog entries --source s3://{bucket.bucket}/{bucket.prefix}'",
                store.pruned)
        page = self.config.max_entries_page
        while begin < end:
            entries = store.entries(begin, min(end, begin + page))
            taken, total = 0, 0
            for entry in entries:
                if taken and total + len(entry) > MAX_PAGE_BYTES:
                    break
                taken += 1
                total += len(entry)
            yield begin, entries[:taken]
            begin += taken
