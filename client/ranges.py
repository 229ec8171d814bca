"""Checking a range of entries ``[begin, end)`` against a verified checkpoint of size ``n``
(RFC 9162 §2.1: the tree hash, inclusion and consistency proofs), so that ``auditlog entries``
prints only entries the log is committed to.

The root of the tree of ``end`` leaves is the compact range of ``[0, begin)`` extended by the
range's leaf hashes. The compact range of ``[0, begin)`` is the list of left siblings on the
inclusion path of leaf ``begin`` in that tree (every left subtree of an RFC 6962 tree is
perfect), so one inclusion proof gives it; a consistency proof from ``end`` to ``n`` then ties
the recomputed root to the verified one. For ``begin = 5, end = 7``::

            root(7)
           /       \\
       (2,0)        (1,2)  ...  leaf 5's left siblings: (2,0) and leaf 4 = compact [0, 5)
      /     \\       /   \\
    ...     ...    4     5    6

Nothing fetched is trusted: a wrong left sibling or entry gives another root of size ``end``,
which no valid consistency proof ties to the verified checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditlog_tlog.client.reader import LogReader
from auditlog_tlog.tree.compact import CompactRange
from auditlog_tlog.tree.errors import VerificationError
from auditlog_tlog.tree.hashing import Hasher
from auditlog_tlog.tree.verify import verify_consistency


def left_siblings(index: int, size: int, proof: Sequence[bytes]) -> list[bytes]:
    """The hashes of ``proof`` (an inclusion path of leaf ``index`` in a tree of ``size``) that
    are left siblings, left to right: the compact range of ``[0, index)``."""
    fn, sn = index, size - 1
    left: list[bytes] = []
    for p in proof:
        if fn & 1 or fn == sn:
            left.append(p)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        fn >>= 1
        sn >>= 1
    left.reverse()
    return left


def check_range(
    client: LogReader, hasher: Hasher, begin: int, entries: Sequence[bytes], size: int, root: bytes
) -> None:
    """Raise ``VerificationError`` unless ``entries`` are leaves ``begin ..`` of the tree of
    ``size`` with ``root`` (a root already verified against the log's key)."""
    end = begin + len(entries)
    if not entries or end > size:
        raise ValueError(f"range [{begin}, {end}): want a non-empty range within size {size}")
    left: list[bytes] = []
    if begin > 0:
        path = client.inclusion_proof(index=begin, size=end).proof
        left = left_siblings(begin, end, path)
    try:
        compact = CompactRange(hasher, 0, begin, left)
    except ValueError as exc:
        raise VerificationError(f"entries [{begin}, {end}): the log's inclusion proof: {exc}") from None
    compact.extend(hasher.hash_leaf(e) for e in entries)
    computed = compact.root()
    if end == size:
        if computed != root:
            raise VerificationError(
                f"entries [{begin}, {end}): the tree they give has root {computed.hex()}, want "
                f"{root.hex()} (the verified checkpoint of size {size})")
        return
    proof = client.consistency_proof(end, size).proof
    try:
        verify_consistency(hasher, end, size, proof, computed, root)
    except VerificationError as exc:
        raise VerificationError(
            f"entries [{begin}, {end}) are not the ones in the verified checkpoint of size "
            f"{size}: {exc}") from None
