"""Merkle tree hashing of RFC 6962 §2.1 (= RFC 9162 §2.1), with SHA-256 or BLAKE3.

Both hashers use the RFC's domain separation: a leaf hash is ``H(0x00 || entry)``, an interior
node is ``H(0x01 || left || right)``, and the empty tree hashes to ``H("")``. SHA-256 is what every
C2SP peer expects; BLAKE3 is offered for logs that only talk to our own clients.
"""

from __future__ import annotations

import hashlib
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


SHA256: Final[Hasher] = Sha256Hasher()
BLAKE3: Final[Hasher] = Blake3Hasher()
_BY_NAME: Final[dict[str, Hasher]] = {"sha256": SHA256, "blake3": BLAKE3}


def get_hasher(name: str) -> Hasher:
    """Return the hasher called ``name`` ("sha256" or "blake3")."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown hash {name!r}, want one of {sorted(_BY_NAME)}") from None
