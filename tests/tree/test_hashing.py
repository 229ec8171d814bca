"""The bulk hashes of ``tree.hashing`` (a restore's) equal the one-at-a-time ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.tree.hashing import BLAKE3, HASH_SIZE, SHA256, Hasher

HASHERS = pytest.mark.parametrize("hasher", [SHA256, BLAKE3], ids=lambda h: h.name)


@HASHERS
@given(entries=st.lists(st.binary(max_size=300), max_size=20))
def test_hash_leaves_is_hash_leaf_of_each(hasher: Hasher, entries: list[bytes]) -> None:
    assert hasher.hash_leaves(entries) == [hasher.hash_leaf(e) for e in entries]


@HASHERS
@given(pairs=st.lists(st.tuples(st.binary(min_size=32, max_size=32),
                                st.binary(min_size=32, max_size=32)), max_size=20))
def test_hash_row_is_hash_children_of_each_pair(hasher: Hasher,
                                                pairs: list[tuple[bytes, bytes]]) -> None:
    row = b"".join(left + right for left, right in pairs)
    assert hasher.hash_row(row) == b"".join(hasher.hash_children(a, b) for a, b in pairs)


@HASHERS
def test_hash_row_wants_pairs_of_hashes(hasher: Hasher) -> None:
    for length in (HASH_SIZE, 3 * HASH_SIZE, 2 * HASH_SIZE + 1):
        with pytest.raises(ValueError, match="want a multiple of 64"):
            hasher.hash_row(b"\0" * length)


@HASHERS
@given(pairs=st.lists(st.tuples(st.binary(min_size=32, max_size=32),
                                st.binary(min_size=32, max_size=32)), max_size=20))
def test_hash_parents_is_hash_children_of_each_pair(hasher: Hasher,
                                                    pairs: list[tuple[bytes, bytes]]) -> None:
    hashes = [h for pair in pairs for h in pair]
    assert hasher.hash_parents(hashes) == [hasher.hash_children(a, b) for a, b in pairs]


@HASHERS
def test_hash_parents_wants_pairs(hasher: Hasher) -> None:
    with pytest.raises(ValueError, match="got 3 hashes, want an even number"):
        hasher.hash_parents([b"\0" * HASH_SIZE] * 3)
