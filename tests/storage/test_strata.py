"""The 8-level stratum layout: locating nodes, widths, and in-order filling."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.storage import strata
from auditlog_tlog.tree.nodes import NodeID


@given(st.integers(0, 63), st.integers(0, 2**40))
def test_locate_maps_every_node_into_its_tile(level: int, index: int) -> None:
    tile_level, tile_index, row, position = strata.locate(NodeID(level, index))
    assert tile_level * 8 + row == level
    assert 0 <= position < 256 >> row
    # The node's first leaf at the tile's bottom level lies inside the tile.
    bottom = index << row
    assert tile_index * 256 <= bottom < (tile_index + 1) * 256


@pytest.mark.parametrize("width", [0, 1, 2, 3, 127, 128, 200, 255, 256])
def test_filled_stratum_round_trips_and_gives_each_node(width: int) -> None:
    s = strata.Stratum(0, 7)
    for position in range(width):
        s.add(0, position, position.to_bytes(32, "big"))
        # Completing a pair completes the parents above it, as the compact range reports.
        level, p = 0, position
        while p & 1 and level < 7:
            level, p = level + 1, p >> 1
            s.add(level, p, bytes([level]) * 30 + p.to_bytes(2, "big"))
    value = s.value()
    assert strata.width_of(value) == width
    assert strata.bottom_row(value) == b"".join(i.to_bytes(32, "big") for i in range(width))
    assert strata.Stratum(0, 7, value).value() == value
    for row in range(1, 8):
        for p in range(width >> row):
            assert strata.node_hash(value, row, p) == bytes([row]) * 30 + p.to_bytes(2, "big")
        assert strata.node_hash(value, row, width >> row) is None


def test_out_of_order_node_is_refused() -> None:
    s = strata.Stratum(0, 0)
    with pytest.raises(ValueError, match="out of order"):
        s.add(0, 1, bytes(32))


def test_value_of_impossible_length_is_refused() -> None:
    with pytest.raises(ValueError, match="no valid size"):
        strata.width_of(b"x" * 33)


def test_node_of_a_stratum_being_filled_matches_its_stored_value() -> None:
    s = strata.Stratum(0, 0)
    for position in range(5):
        s.add(0, position, bytes([position]) * 32)
    s.add(1, 0, b"\x10" * 32)
    s.add(1, 1, b"\x11" * 32)
    s.add(2, 0, b"\x20" * 32)  # five leaves complete the node over the first four
    value = s.value()
    for row, width in ((0, 5), (1, 2), (2, 1), (3, 0)):
        for position in range(width + 1):
            assert s.node(row, position) == strata.node_hash(value, row, position)
