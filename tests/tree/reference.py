"""A naive transcription of the recursive definitions of RFC 6962 §2.1, to test tree/ against.

MTH (§2.1), PATH (§2.1.1) and PROOF/SUBPROOF (§2.1.2), written as the RFC states them, on lists
of leaf hashes: slow (every call rehashes its subtrees) and obviously right. The RFC 9162
§2.1.3.2 / §2.1.4.2 verifiers in tree/verify.py are checked against these, and these are pinned
by tests/vectors/merkle.json.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditlog_tlog.tree.hashing import Hasher
from auditlog_tlog.tree.nodes import NodeID


def split(n: int) -> int:
    """The k of RFC 6962 §2.1: the largest power of two smaller than n (n > 1), by counting."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(hasher: Hasher, leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes."""
    n = len(leaves)
    if n == 0:
        return hasher.empty_root()
    if n == 1:
        return leaves[0]
    k = split(n)
    return hasher.hash_children(mth(hasher, leaves[:k]), mth(hasher, leaves[k:]))


def path(hasher: Hasher, m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the inclusion proof of leaf m, leaf-to-root."""
    n = len(leaves)
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return [*path(hasher, m, leaves[:k]), mth(hasher, leaves[k:])]
    return [*path(hasher, m - k, leaves[k:]), mth(hasher, leaves[:k])]


def subproof(hasher: Hasher, m: int, leaves: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if b else [mth(hasher, leaves)]
    k = split(n)
    if m <= k:
        return [*subproof(hasher, m, leaves[:k], b), mth(hasher, leaves[k:])]
    return [*subproof(hasher, m - k, leaves[k:], False), mth(hasher, leaves[:k])]


def proof(hasher: Hasher, m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m <= n (empty when m == n)."""
    return subproof(hasher, m, leaves, True)


def complete_nodes(hasher: Hasher, leaves: Sequence[bytes]) -> dict[NodeID, bytes]:
    """Every complete subtree of the tree of ``len(leaves)`` leaves, with its MTH.

    Level by level from the leaves: node (level, i) is the MTH of its 2^level leaves, and for a
    perfect subtree that is the hash of its two halves.
    """
    nodes = {NodeID(0, i): leaf for i, leaf in enumerate(leaves)}
    level, row = 0, list(leaves)
    while len(row) > 1:
        row = [hasher.hash_children(row[2 * i], row[2 * i + 1]) for i in range(len(row) // 2)]
        level += 1
        nodes.update({NodeID(level, i): value for i, value in enumerate(row)})
    return nodes


_LEAVES: dict[str, list[bytes]] = {}


def leaves(hasher: Hasher, n: int) -> list[bytes]:
    """Distinct leaf hashes for test trees: leaf i is the leaf hash of its 8-byte index.

    Leaf i is the same for every n, so trees of different sizes share their prefixes.
    """
    known = _LEAVES.setdefault(hasher.name, [])
    known.extend(hasher.hash_leaf(i.to_bytes(8, "big")) for i in range(len(known), n))
    return known[:n]
