"""Where one log's records live in the database, and how its state record is encoded.

Every key of a log starts with its prefix (``storage.db.prefix``: ``L`` and the log's id)::

    <prefix> A <digest(32)>            an addendum: entry index u64 || its bytes (storage.addenda)
    <prefix> C <size u64>              the signed checkpoint of that size
    <prefix> E <index u64>             the entry at that index
    <prefix> H <leaf hash>             the index (u64) of the first entry with that leaf hash
    <prefix> K ...                     the search index (storage.index)
    <prefix> P                         the pruned minimum (u64): entries below it were deleted
                                       after publication (docs/retention.md); absent: none
    <prefix> S                         the state: size u64 || root || checkpoint size u64 ||
                                       the compact range's hashes, left to right
    <prefix> T <level u8> <index u64>  an 8-level stratum of the tree (storage.strata), in
                                       the column family "strata" (storage.db, layout 2)
    <prefix> X <digest(32)>            an erased addendum: entry index u64 || erasure index u64

Integers are big-endian, so keys of one kind sort by number. The appending store
(``storage.logstore``) and the bulk importer of a restore (``storage.restore``) both write
through this module, so the two can never disagree on the layout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


@dataclass(frozen=True, slots=True)
class LogKeys:
    """The keys of one log, from its prefix."""

    prefix: bytes

    def addendum(self, digest: bytes) -> bytes:
        return self.prefix + b"A" + digest

    def addenda_range(self) -> tuple[bytes, bytes]:
        """The half-open key range of every stored addendum."""
        return self.prefix + b"A", self.prefix + b"B"

    def erased(self, digest: bytes) -> bytes:
        return self.prefix + b"X" + digest

    def checkpoint(self, size: int) -> bytes:
        return self.prefix + b"C" + _u64(size)

    def checkpoints_end(self) -> bytes:
        """The first key after every checkpoint key (the end of a scan of them)."""
        return self.prefix + b"D"

    def entry(self, index: int) -> bytes:
        return self.prefix + b"E" + _u64(index)

    def entry_keys(self, begin: int, end: int) -> tuple[list[bytes], list[bytes]]:
        """The keys of the entries ``[begin, end)`` and their indexes as u64: ``entry()`` in
        bulk, for the importer of a restore (the u64s are also the values of ``leaf()``)."""
        indexes = [i.to_bytes(8, "big") for i in range(begin, end)]
        head = self.prefix + b"E"
        return [head + i for i in indexes], indexes

    def leaf(self, leaf_hash: bytes) -> bytes:
        return self.prefix + b"H" + leaf_hash

    def leaf_keys(self, leaf_hashes: Iterable[bytes]) -> list[bytes]:
        """``leaf()`` in bulk."""
        head = self.prefix + b"H"
        return [head + h for h in leaf_hashes]

    @property
    def pruned(self) -> bytes:
        return self.prefix + b"P"

    @property
    def state(self) -> bytes:
        return self.prefix + b"S"

    def tile(self, level: int, index: int) -> bytes:
        return self.prefix + b"T" + level.to_bytes(1, "big") + _u64(index)

    def tiles_range(self) -> tuple[bytes, bytes]:
        """The half-open key range of every stratum of the log."""
        return self.prefix + b"T", self.prefix + b"U"

    @property
    def search(self) -> bytes:
        """The first bytes of every key of the search index (storage.index)."""
        return self.prefix + b"K"

    def ranges(self) -> tuple[tuple[bytes, bytes], ...]:
        """Half-open key ranges covering every record of the log in the default column family
        but its addenda (A, X): C, E and H; K; P; S (the strata: :meth:`tiles_range`)."""
        return ((self.prefix + b"C", self.prefix + b"I"), (self.prefix + b"K", self.prefix + b"L"),
                (self.prefix + b"P", self.prefix + b"Q"), (self.prefix + b"S", self.prefix + b"T"))


@dataclass(frozen=True, slots=True)
class State:
    """The state record: the tree's size and root, the latest checkpoint's size, and the
    compact range of the whole tree (its hashes, left to right)."""

    size: int
    root: bytes
    checkpoint_size: int
    compact: tuple[bytes, ...]

    def encode(self) -> bytes:
        return _u64(self.size) + self.root + _u64(self.checkpoint_size) + b"".join(self.compact)

    @classmethod
    def decode(cls, raw: bytes, hash_size: int) -> State:
        """Parse a state record; ``ValueError`` if its length does not fit the layout."""
        head = 16 + hash_size
        if len(raw) < head or (len(raw) - head) % hash_size:
            raise ValueError(f"state record of {len(raw)} bytes, want {head} + a multiple of "
                             f"{hash_size}")
        return cls(
            int.from_bytes(raw[:8], "big"), raw[8:8 + hash_size],
            int.from_bytes(raw[8 + hash_size:head], "big"),
            tuple(raw[i:i + hash_size] for i in range(head, len(raw), hash_size)),
        )
