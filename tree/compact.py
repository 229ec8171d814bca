"""Compact ranges: the fewest complete subtree hashes that stand for a range of leaves.

RFC 6962 §2.1 (= RFC 9162 §2.1) defines the tree hash recursively. A compact range for
``[begin, end)`` holds one hash per node of ``decompose(begin, end)``; from ``begin == 0`` it
yields the root of the tree of ``end`` leaves, and two adjacent ranges merge into one. This is the
integration step of the log: storage appends leaf hashes to the compact range of the whole tree
and the visitor tells it which complete nodes to write, each exactly once.

Appending leaves 6 and 7 to the compact range ``[0, 6)``, which holds (2,0) and (1,2)::

                                                        (3,0)
                                                    /           \\
           (2,0)                                (2,0)           (2,1)
          /     \\                               /     \\         /     \\
      (1,0)     (1,1)   (1,2)                (1,0)     (1,1)   (1,2)   (1,3)
      /   \\     /   \\   /   \\               /   \\     /   \\   /   \\   /   \\
     0     1   2     3 4     5              0     1   2     3 4     5 6     7

    append(leaf 6): the visitor sees (0,6) alone; leaf 6 is a left child, nothing completes.
    append(leaf 7): the visitor sees (0,7), (1,3), (2,1), (3,0); the range holds (3,0) alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from auditlog_tlog.tree.hashing import HASH_SIZE, Hasher
from auditlog_tlog.tree.nodes import MAX_SIZE, NodeID, decompose

Visitor = Callable[[NodeID, bytes], None]
"""Called with each complete node the moment its hash becomes known."""

LevelVisitor = Callable[[int, int, bytes], None]
"""The same, called with the node's level and index instead of a ``NodeID``."""


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ValueError(f"{what}: got {len(value)} bytes, want {HASH_SIZE}")


class CompactRange:
    """The hashes of ``decompose(begin, end)``; grows to the right by ``append`` and ``merge``."""

    __slots__ = ("_hasher", "_hashes", "_levels", "begin", "end")

    def __init__(
        self, hasher: Hasher, begin: int = 0, end: int = 0, hashes: Sequence[bytes] = ()
    ) -> None:
        ids = decompose(begin, end)
        if len(hashes) != len(ids):
            raise ValueError(
                f"compact range [{begin}, {end}): got {len(hashes)} hashes, want {len(ids)}"
            )
        for i, value in enumerate(hashes):
            _check_hash(f"hash {i} of compact range", value)
        self._hasher = hasher
        self.begin = begin
        self.end = end
        self._hashes = list(hashes)
        # The levels of the nodes, parallel to ``_hashes``. The index of each node follows from
        # its level and the nodes after it, since the last node ends at ``end``.
        self._levels = [node.level for node in ids]

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """One hash per node of ``decompose(begin, end)``, left to right."""
        return tuple(self._hashes)

    @property
    def ids(self) -> tuple[NodeID, ...]:
        """The nodes whose hashes are held, the same as ``decompose(begin, end)``."""
        return decompose(self.begin, self.end)

    def __repr__(self) -> str:
        name, count = self._hasher.name, len(self._hashes)
        return f"CompactRange({name}, [{self.begin}, {self.end}), {count} hashes)"

    def _push(self, level: int, index: int, value: bytes, visit: Visitor | None) -> None:
        """Add the complete node (level, index), which starts at ``self.end``, then merge.

        The new node and the last held node are siblings exactly when both sit at the same level
        and the new one has an odd index (a right child); their parent then replaces both and
        may in turn be the right sibling of the node before. No two held nodes are ever siblings,
        which is what makes the held nodes the decomposition of the range.
        """
        hashes, levels, hash_children = self._hashes, self._levels, self._hasher.hash_children
        while index & 1 and levels and levels[-1] == level:
            levels.pop()
            value = hash_children(hashes.pop(), value)
            level += 1
            index >>= 1
            if visit is not None:
                visit(NodeID(level, index), value)
        hashes.append(value)
        levels.append(level)

    def append(self, leaf_hash: bytes, visit: Visitor | None = None) -> None:
        """Append one leaf; ``visit`` sees the leaf, then every parent it completes, bottom-up."""
        _check_hash("leaf hash", leaf_hash)
        if self.end >= MAX_SIZE:
            raise ValueError(f"append: got a range ending at {self.end}, want < {MAX_SIZE}")
        if visit is not None:
            visit(NodeID(0, self.end), leaf_hash)
        self._push(0, self.end, leaf_hash, visit)
        self.end += 1

    def extend(self, leaf_hashes: Iterable[bytes], visit: Visitor | None = None) -> None:
        """Append many leaves; the same as ``append`` in a loop, without the per-call overhead."""
        if visit is None:
            self.extend_levels(leaf_hashes)
        else:
            self.extend_levels(leaf_hashes, lambda level, index, value: visit(NodeID(level, index), value))

    def extend_levels(
        self, leaf_hashes: Iterable[bytes], visit: LevelVisitor | None = None
    ) -> None:
        """``extend``, with a visitor that gets each complete node as ``(level, index, hash)``.

        This is the storage write path: it skips building a ``NodeID`` for every node.
        """
        hashes, levels, hash_children = self._hashes, self._levels, self._hasher.hash_children
        end = self.end
        try:
            for leaf_hash in leaf_hashes:
                if len(leaf_hash) != HASH_SIZE:
                    _check_hash("leaf hash", leaf_hash)
                if end >= MAX_SIZE:
                    raise ValueError(f"append: got a range ending at {end}, want < {MAX_SIZE}")
                if visit is not None:
                    visit(0, end, leaf_hash)
                # This is ``_push`` inlined. The trailing one bits of the new leaf's index are
                # the levels at which it is a right child; each one of them whose left sibling
                # is held completes a parent.
                value, level, index = leaf_hash, 0, end
                while index & 1 and levels and levels[-1] == level:
                    levels.pop()
                    value = hash_children(hashes.pop(), value)
                    level += 1
                    index >>= 1
                    if visit is not None:
                        visit(level, index, value)
                hashes.append(value)
                levels.append(level)
                end += 1
        finally:
            # Leaves appended before an error (or a visitor exception) stay appended, so that
            # ``end`` always matches the hashes held.
            self.end = end

    def merge(self, other: CompactRange, visit: Visitor | None = None) -> None:
        """Append the range ``other`` (which must start at ``self.end``) to this one.

        ``visit`` sees each node that neither range held but the merged one completes,
        bottom-up. ``other`` is not changed.
        """
        if other.begin != self.end:
            raise ValueError(f"merge: got a range starting at {other.begin}, want {self.end}")
        if other._hasher.name != self._hasher.name:
            raise ValueError(f"merge: got hasher {other._hasher.name}, want {self._hasher.name}")
        position = other.begin
        for level, value in zip(other._levels, other._hashes, strict=True):
            self._push(level, position >> level, value, visit)
            position += 1 << level
        self.end = other.end

    def root(self) -> bytes:
        """Return the root of the tree of ``end`` leaves; the range must start at leaf 0.

        The held nodes shrink from left to right, so folding them from the right rebuilds the
        right border of the tree (the nodes that are not complete yet) up to the root.
        """
        if self.begin != 0:
            raise ValueError(f"root: got a range starting at {self.begin}, want 0")
        if not self._hashes:
            return self._hasher.empty_root()
        hash_children = self._hasher.hash_children
        root = self._hashes[-1]
        for value in reversed(self._hashes[:-1]):
            root = hash_children(value, root)
        return root


def root_of(hasher: Hasher, leaf_hashes: Iterable[bytes]) -> bytes:
    """Return the RFC 6962 root (MTH) of the tree with the given leaf hashes."""
    compact = CompactRange(hasher)
    compact.extend(leaf_hashes)
    return compact.root()
