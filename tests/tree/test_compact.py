"""tree.nodes and tree.compact: decomposition, append, extend, merge and root."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.tree.compact import CompactRange, root_of
from auditlog_tlog.tree.hashing import BLAKE3, SHA256, Hasher
from auditlog_tlog.tree.nodes import MAX_SIZE, NodeID, decompose, largest_power_of_two_below
from tests.tree import reference

HASHERS = pytest.mark.parametrize("hasher", [SHA256, BLAKE3], ids=lambda h: h.name)
hashers = st.sampled_from([SHA256, BLAKE3])


def naive_decompose(begin: int, end: int) -> list[NodeID]:
    """Greedy from the left: at each position take the largest aligned node that fits."""
    nodes = []
    while begin < end:
        level = 0
        while begin % (2 << level) == 0 and begin + (2 << level) <= end:
            level += 1
        nodes.append(NodeID(level, begin >> level))
        begin += 1 << level
    return nodes


class Recorder:
    """A visitor that records every node it is shown, and fails on a node shown twice."""

    def __init__(self) -> None:
        self.seen: dict[NodeID, bytes] = {}
        self.order: list[NodeID] = []

    def __call__(self, node: NodeID, value: bytes) -> None:
        assert node not in self.seen, f"{node} reported twice"
        self.seen[node] = value
        self.order.append(node)


def complete_in(nodes: dict[NodeID, bytes], begin: int, end: int) -> dict[NodeID, bytes]:
    return {node: value for node, value in nodes.items() if begin <= node.begin and node.end <= end}


# nodes


def test_node_id_bounds() -> None:
    assert NodeID(64, 0).end == 1 << 64
    assert (NodeID(3, 5).begin, NodeID(3, 5).end) == (40, 48)
    for level, index in [(-1, 0), (65, 0), (0, -1)]:
        with pytest.raises(ValueError, match="got"):
            NodeID(level, index)


def test_largest_power_of_two_below() -> None:
    for n in range(2, 2000):
        k = largest_power_of_two_below(n)
        assert k == reference.split(n)
        assert k < n <= 2 * k
    assert largest_power_of_two_below(MAX_SIZE) == 1 << 63
    assert largest_power_of_two_below(1 << 64) == 1 << 63
    for n in [-1, 0, 1]:
        with pytest.raises(ValueError, match="got"):
            largest_power_of_two_below(n)


def test_decompose_exhaustive() -> None:
    for end in range(130):
        for begin in range(end + 1):
            assert list(decompose(begin, end)) == naive_decompose(begin, end), (begin, end)


@given(st.integers(0, 1 << 64), st.integers(0, 1 << 64))
def test_decompose_large(a: int, b: int) -> None:
    begin, end = min(a, b), max(a, b)
    nodes = decompose(begin, end)
    # Contiguous, exactly covering, climbing and then descending in level.
    position = begin
    for node in nodes:
        assert node.begin == position
        position = node.end
    assert position == end
    # Levels climb strictly to a peak, which may be held twice, then fall strictly.
    levels = [node.level for node in nodes]
    if levels:
        peak = levels.index(max(levels))
        rising, falling = levels[: peak + 1], levels[peak + 1 :]
        if falling and falling[0] == rising[-1]:
            falling = falling[1:]
        assert rising == sorted(set(rising))
        assert falling == sorted(set(falling), reverse=True)
        assert all(level < rising[-1] for level in falling)
    # Fewest possible: no two neighbours are siblings.
    for left, right in itertools.pairwise(nodes):
        assert not (left.level == right.level and left.index % 2 == 0)


def test_decompose_bad_ranges() -> None:
    for begin, end in [(-1, 3), (4, 3), (0, (1 << 64) + 1)]:
        with pytest.raises(ValueError, match="got"):
            decompose(begin, end)


# compact ranges


@HASHERS
def test_empty_range(hasher: Hasher) -> None:
    compact = CompactRange(hasher)
    assert (compact.begin, compact.end, compact.hashes) == (0, 0, ())
    assert compact.root() == hasher.empty_root() == root_of(hasher, [])


@HASHERS
def test_append_reports_leaf_then_parents(hasher: Hasher) -> None:
    leaves = reference.leaves(hasher, 8)
    nodes = reference.complete_nodes(hasher, leaves)
    compact = CompactRange(hasher)
    compact.extend(leaves[:7])
    recorder = Recorder()
    compact.append(leaves[7], recorder)
    assert recorder.order == [NodeID(0, 7), NodeID(1, 3), NodeID(2, 1), NodeID(3, 0)]
    assert recorder.seen == {node: nodes[node] for node in recorder.order}
    assert compact.hashes == (nodes[NodeID(3, 0)],)
    recorder = Recorder()
    compact.append(leaves[0], recorder)
    assert recorder.order == [NodeID(0, 8)]


@HASHERS
def test_extend_is_append_in_a_loop(hasher: Hasher) -> None:
    leaves = reference.leaves(hasher, 300)
    one, many = CompactRange(hasher, 5, 5), CompactRange(hasher, 5, 5)
    seen_one, seen_many = Recorder(), Recorder()
    for leaf in leaves[5:]:
        one.append(leaf, seen_one)
    many.extend(leaves[5:], seen_many)
    assert (one.begin, one.end, one.hashes) == (many.begin, many.end, many.hashes)
    assert seen_one.order == seen_many.order
    assert seen_one.seen == complete_in(reference.complete_nodes(hasher, leaves), 5, 300)


@given(hashers, st.integers(0, 600))
@settings(max_examples=100, deadline=None)
def test_root_is_mth(hasher: Hasher, size: int) -> None:
    leaves = reference.leaves(hasher, size)
    assert root_of(hasher, leaves) == reference.mth(hasher, leaves)


def test_bad_arguments() -> None:
    leaf = SHA256.hash_leaf(b"")
    with pytest.raises(ValueError, match="got 1 hashes, want 0"):
        CompactRange(SHA256, 0, 0, [leaf])
    with pytest.raises(ValueError, match="got 1 hashes, want 2"):
        CompactRange(SHA256, 0, 3, [leaf])
    with pytest.raises(ValueError, match="got 31 bytes, want 32"):
        CompactRange(SHA256, 0, 1, [leaf[:31]])
    with pytest.raises(ValueError, match="got"):
        CompactRange(SHA256, 4, 3)
    compact = CompactRange(SHA256, 1, 2, [leaf])
    with pytest.raises(ValueError, match="got a range starting at 1, want 0"):
        compact.root()
    with pytest.raises(ValueError, match="got 33 bytes, want 32"):
        compact.append(leaf + b"\x00")
    with pytest.raises(ValueError, match="got a range starting at 3, want 2"):
        compact.merge(CompactRange(SHA256, 3, 3))
    with pytest.raises(ValueError, match="got hasher blake3, want sha256"):
        compact.merge(CompactRange(BLAKE3, 2, 3, [leaf]))
    full = CompactRange(SHA256, MAX_SIZE, MAX_SIZE)
    with pytest.raises(ValueError, match="want <"):
        full.append(leaf)
    assert (full.end, full.hashes) == (MAX_SIZE, ())


def test_extend_keeps_what_it_appended_before_an_error() -> None:
    leaves = reference.leaves(SHA256, 3)
    compact = CompactRange(SHA256)
    with pytest.raises(ValueError, match="got 0 bytes"):
        compact.extend([leaves[0], leaves[1], b"", leaves[2]])
    assert compact.end == 2
    assert compact.root() == reference.mth(SHA256, leaves[:2])


@HASHERS
def test_range_from_stored_hashes(hasher: Hasher) -> None:
    leaves = reference.leaves(hasher, 100)
    nodes = reference.complete_nodes(hasher, leaves)
    for begin, end in [(0, 0), (0, 1), (0, 77), (3, 3), (3, 64), (17, 100)]:
        compact = CompactRange(hasher, begin, end, [nodes[node] for node in decompose(begin, end)])
        assert compact.ids == decompose(begin, end)
        compact.extend(leaves[end:])
        built = CompactRange(hasher, begin, begin)
        built.extend(leaves[begin:])
        assert compact.hashes == built.hashes


@given(
    hashers,
    st.integers(0, 40),
    st.lists(st.integers(0, 1500), max_size=12),
    st.integers(0, 1500),
    st.randoms(use_true_random=False),
)
@settings(max_examples=150, deadline=None)
def test_merge_in_any_order(
    hasher: Hasher, begin: int, cuts: list[int], end: int, rnd: random.Random
) -> None:
    """Pieces split at random points, merged pairwise in random order: same nodes, same root."""
    end = max(begin, end)
    points = sorted({begin, end, *(min(max(cut, begin), end) for cut in cuts)})
    leaves = reference.leaves(hasher, end)
    recorder = Recorder()
    pieces = []
    for left, right in itertools.pairwise(points):
        piece = CompactRange(hasher, left, left)
        piece.extend(leaves[left:right], recorder)
        pieces.append(piece)
    if not pieces:
        pieces.append(CompactRange(hasher, begin, begin))
    while len(pieces) > 1:
        i = rnd.randrange(len(pieces) - 1)
        pieces[i].merge(pieces.pop(i + 1), recorder)
    (whole,) = pieces
    assert (whole.begin, whole.end) == (begin, end)
    want = complete_in(reference.complete_nodes(hasher, leaves), begin, end)
    assert recorder.seen == want
    assert whole.hashes == tuple(want[node] for node in decompose(begin, end))
    if begin == 0:
        assert whole.root() == reference.mth(hasher, leaves)


def test_merge_does_not_change_the_other_range() -> None:
    leaves = reference.leaves(SHA256, 10)
    left, right = CompactRange(SHA256), CompactRange(SHA256, 4, 4)
    left.extend(leaves[:4])
    right.extend(leaves[4:])
    before = right.hashes
    left.merge(right)
    assert right.hashes == before
    assert (right.begin, right.end) == (4, 10)
    assert left.root() == reference.mth(SHA256, leaves)
