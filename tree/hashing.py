"""Merkle tree hashing of RFC 6962 §2.1 (= RFC 9162 §2.1), with SHA-256 or BLAKE3.

Both hashers use the RFC's domain separation: a leaf hash is ``H(0x00 || entry)``, an interior
node is ``H(0x01 || left || right)``, and the empty tree hashes to ``H("")``. SHA-256 is what every
C2SP peer expects; BLAKE3 is offered for logs that only talk to our own clients.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final, Protocol

import blake3

HASH_SIZE: Final = 32
_LEAF: Final = b"\x00"
_NODE: Final = b"\x01"


class Hasher(Protocol):
    """The three hashes a Merkle tree needs; every implementation yields 32-byte digests."""

    @property
    def name(self) -> str: ...

    def empty_root(self) -> bytes: ...

    def hash_leaf(self, entry: bytes) -> bytes: ...

    def hash_children(self, left: bytes, right: bytes) -> bytes: ...

    def hash_leaves(self, entries: Sequence[bytes]) -> list[bytes]:
        """``[hash_leaf(e) for e in entries]``, in one call (a restore hashes millions)."""

    def hash_row(self, row: bytes) -> bytes:
        """The parents of a row of concatenated hashes (an even number of them), concatenated:
        ``hash_children`` of hashes 0 and 1, of 2 and 3, and so on."""

    def hash_parents(self, hashes: Sequence[bytes]) -> list[bytes]:
        """The parents of a row of hashes (an even number of them): ``hash_children`` of
        hashes 0 and 1, of 2 and 3, and so on (the nodes above a restored tile)."""


class Sha256Hasher:
    """RFC 6962 SHA-256, the default and the only one C2SP peers understand."""

    __slots__ = ()
    name: Final = "sha256"

    def empty_root(self) -> bytes:
        return hashlib.sha256(b"").digest()

    def hash_leaf(self, entry: bytes) -> bytes:
        return hashlib.sha256(_LEAF + entry).digest()

    def hash_children(self, left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(_NODE + left + right).digest()

    def hash_leaves(self, entries: Sequence[bytes]) -> list[bytes]:
        sha256 = hashlib.sha256
        return [sha256(_LEAF + e).digest() for e in entries]

    def hash_row(self, row: bytes) -> bytes:
        _check_row(row)
        sha256 = hashlib.sha256
        return b"".join([sha256(_NODE + row[i:i + 2 * HASH_SIZE]).digest()
                         for i in range(0, len(row), 2 * HASH_SIZE)])

    def hash_parents(self, hashes: Sequence[bytes]) -> list[bytes]:
        _check_pairs(hashes)
        sha256 = hashlib.sha256
        pairs = iter(hashes)  # zip of one iterator with itself: hashes 0 and 1, 2 and 3, ...
        return [sha256(_NODE + left + right).digest() for left, right in zip(pairs, pairs, strict=True)]


class Blake3Hasher:
    """RFC 6962 structure and domain separation with BLAKE3-256 as the hash."""

    __slots__ = ()
    name: Final = "blake3"

    def empty_root(self) -> bytes:
        return blake3.blake3(b"").digest()

    def hash_leaf(self, entry: bytes) -> bytes:
        return blake3.blake3(_LEAF + entry).digest()

    def hash_children(self, left: bytes, right: bytes) -> bytes:
        return blake3.blake3(_NODE + left + right).digest()

    def hash_leaves(self, entries: Sequence[bytes]) -> list[bytes]:
        b3 = blake3.blake3
        return [b3(_LEAF + e).digest() for e in entries]

    def hash_row(self, row: bytes) -> bytes:
        _check_row(row)
        b3 = blake3.blake3
        return b"".join([b3(_NODE + row[i:i + 2 * HASH_SIZE]).digest()
                         for i in range(0, len(row), 2 * HASH_SIZE)])

    def hash_parents(self, hashes: Sequence[bytes]) -> list[bytes]:
        _check_pairs(hashes)
        b3 = blake3.blake3
        pairs = iter(hashes)
        return [b3(_NODE + left + right).digest() for left, right in zip(pairs, pairs, strict=True)]


def _check_pairs(hashes: Sequence[bytes]) -> None:
    if len(hashes) % 2:
        raise ValueError(f"got {len(hashes)} hashes, want an even number (pairs)")


def _check_row(row: bytes) -> None:
    if len(row) % (2 * HASH_SIZE):
        raise ValueError(f"row of {len(row)} bytes, want a multiple of {2 * HASH_SIZE} (pairs "
                         "of hashes)")


SHA256: Final[Hasher] = Sha256Hasher()
BLAKE3: Final[Hasher] = Blake3Hasher()
_BY_NAME: Final[dict[str, Hasher]] = {"sha256": SHA256, "blake3": BLAKE3}


def get_hasher(name: str) -> Hasher:
    """Return the hasher called ``name`` ("sha256" or "blake3")."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown hash {name!r}, want one of {sorted(_BY_NAME)}") from None
