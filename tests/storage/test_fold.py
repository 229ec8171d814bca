"""storage/fold.py against tree/compact.py: the same nodes and the same compact range, for any
starting size and batch (the level-by-level fold must equal the leaf-by-leaf one)."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.storage.fold import compact_levels, fold
from auditlog_tlog.tree.compact import CompactRange
from auditlog_tlog.tree.hashing import SHA256


def _leaf(i: int) -> bytes:
    return SHA256.hash_leaf(i.to_bytes(8, "big"))


def _range(size: int) -> CompactRange:
    compact = CompactRange(SHA256)
    compact.extend_levels([_leaf(i) for i in range(size)])
    return compact


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 1100), st.integers(1, 700))
def test_fold_completes_the_nodes_and_range_that_extend_does(size: int, count: int) -> None:
    leaves = [_leaf(i) for i in range(size, size + count)]
    reference = _range(size)
    seen: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
    reference.extend_levels(leaves, lambda level, index, value: seen[level].append((index, value)))
    runs, hashes = fold(SHA256, size, _range(size).hashes, leaves)
    assert hashes == reference.hashes
    assert [run.level for run in runs] == sorted(seen)
    for run in runs:
        assert [(run.begin + i, h) for i, h in enumerate(run.hashes)] == seen[run.level]


def test_fold_of_the_docstring_example() -> None:
    runs, hashes = fold(SHA256, 5, _range(5).hashes, [_leaf(i) for i in range(5, 9)])
    assert [(r.level, r.begin, len(r.hashes)) for r in runs] == [(0, 5, 4), (1, 2, 2), (2, 1, 1),
                                                                  (3, 0, 1)]
    assert hashes == _range(9).hashes and compact_levels(9) == [3, 0]
