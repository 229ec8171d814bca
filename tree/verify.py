"""Verification of RFC 6962 proofs, following RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.

Each ``verify_*`` returns ``None`` or raises :class:`~tree.errors.VerificationError` saying what
failed. Inputs are bounded before any hashing: sizes are uint64 (below 2^64), every hash is 32
bytes, and a proof holds at most as many hashes as the largest valid one: 64 for inclusion (the
height of a tree of 2^64 - 1 leaves) and 65 for consistency (that height, plus the old tree's last
complete subtree when ``size1`` is not a power of two; e.g. sizes 3 to 2^63 + 1).

Edge cases the RFC leaves open, decided here:

* ``size1 == size2``: the proof must be empty and ``root1 == root2`` (all implementations agree).
* ``size1 == 0``: the proof must be empty and ``root1`` must be the empty tree's root
  (``hasher.empty_root()``); for ``size2 > 0`` ``root2`` is not checked, the empty tree being a
  prefix of every tree. This is what tlog-witness expects from a client starting with ``old 0``.
  transparency-dev/merkle refuses this case outright; we accept it. Both rules apply to
  ``0 -> 0``, so two equal roots that are not the empty tree's fail there.
* ``size1 > size2``, a negative size, a size of 2^64 or more: rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from auditlog_tlog.tree.errors import VerificationError
from auditlog_tlog.tree.hashing import HASH_SIZE, Hasher
from auditlog_tlog.tree.nodes import MAX_SIZE

MAX_INCLUSION_HASHES: Final = 64
MAX_CONSISTENCY_HASHES: Final = 65


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{what}: got {len(value)} bytes, want {HASH_SIZE}")


def _check_proof(proof: Sequence[bytes], limit: int) -> None:
    if len(proof) > limit:
        raise VerificationError(f"proof: got {len(proof)} hashes, want at most {limit}")
    for i, value in enumerate(proof):
        _check_hash(f"proof hash {i}", value)


def _check_root(what: str, got: bytes, want: bytes) -> None:
    if got != want:
        raise VerificationError(f"{what}: got {got.hex()}, want {want.hex()}")


def root_from_inclusion_proof(
    hasher: Hasher, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """Return the root that ``proof`` gives for ``leaf_hash`` at ``index`` in a tree of ``size``.

    This is RFC 9162 §2.1.3.2 without the final comparison. It raises if the proof has the wrong
    length for (index, size), so the root it returns is the only one the proof can stand for.
    """
    if not 0 <= index < size <= MAX_SIZE:
        raise VerificationError(
            f"inclusion proof: got index {index} and size {size}, want 0 <= index < size < 2^64"
        )
    _check_hash("leaf hash", leaf_hash)
    _check_proof(proof, MAX_INCLUSION_HASHES)
    hash_children = hasher.hash_children
    # fn walks up the path to the leaf and sn up the path to the last leaf; where they meet is
    # the right border of the tree, on which a node with no right sibling is skipped.
    fn, sn = index, size - 1
    root = leaf_hash
    for i, p in enumerate(proof):
        if sn == 0:
            raise VerificationError(
                f"inclusion proof: got {len(proof)} hashes, want {i} for index {index}, size {size}"
            )
        if fn & 1 or fn == sn:
            root = hash_children(p, root)
            # If fn was even (so fn == sn), the node is the last of its level and has no right
            # sibling: it moves up unchanged until it becomes a right child or the root.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            root = hash_children(root, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(
            f"inclusion proof: got {len(proof)} hashes, too few for index {index}, size {size}"
        )
    return root


def verify_inclusion(
    hasher: Hasher, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``."""
    _check_hash("root", root)
    computed = root_from_inclusion_proof(hasher, index, size, leaf_hash, proof)
    _check_root("inclusion proof: root", computed, root)


def verify_consistency(
    hasher: Hasher,
    size1: int,
    size2: int,
    proof: Sequence[bytes],
    root1: bytes,
    root2: bytes,
) -> None:
    """Check that the tree of ``size1`` with ``root1`` is a prefix of the one of ``size2``.

    RFC 9162 §2.1.4.2, plus the size-0 and equal-size rules in the module docstring.
    """
    if not 0 <= size1 <= size2 <= MAX_SIZE:
        raise VerificationError(
            f"consistency proof: got sizes {size1} and {size2}, want 0 <= size1 <= size2 < 2^64"
        )
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    _check_proof(proof, MAX_CONSISTENCY_HASHES)
    if size1 == size2 or size1 == 0:
        if proof:
            raise VerificationError(
                f"consistency proof from size {size1} to {size2}: got {len(proof)} hashes, want 0"
            )
        if size1 == 0:
            _check_root("consistency proof: root1 of the empty tree", root1, hasher.empty_root())
        if size1 == size2:
            _check_root(f"consistency proof: root at equal size {size1}", root2, root1)
        return
    if not proof:
        raise VerificationError(
            f"consistency proof from size {size1} to {size2}: got 0 hashes, want at least 1"
        )
    hash_children = hasher.hash_children
    # A power-of-two size1 is a complete subtree of the new tree whose hash is root1 itself, so
    # the RFC leaves it out of the proof and the verifier puts it back.
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    fn, sn = size1 - 1, size2 - 1
    # Skip the levels where the last old leaf is a right child: path[0] is the hash of the
    # highest node ending at size1, and the walk starts from it.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # fr rebuilds the old root and sr the new one, sharing every left sibling on the way.
    fr = sr = path[0]
    for i, c in enumerate(path[1:], start=1):
        if sn == 0:
            raise VerificationError(
                f"consistency proof from size {size1} to {size2}: got {len(proof)} hashes, "
                f"too many (hash {i} is beyond the root)"
            )
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while fn and not fn & 1:  # As in the inclusion loop above.
                fn >>= 1
                sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(
            f"consistency proof from size {size1} to {size2}: got {len(proof)} hashes, too few"
        )
    _check_root("consistency proof: root1", fr, root1)
    _check_root("consistency proof: root2", sr, root2)
