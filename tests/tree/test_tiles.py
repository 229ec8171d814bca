"""tree.tiles against every case of tests/vectors/tiles.json, plus properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.tree.errors import InvalidRangeError, MalformedError
from auditlog_tlog.tree.nodes import MAX_SIZE
from auditlog_tlog.tree.tiles import (
    MAX_ENTRY_SIZE,
    MAX_TILE_LEVEL,
    decode_entry_bundle,
    encode_entry_bundle,
    encode_index,
    entries_path,
    entries_path_for_size,
    entry_bundles_for_size,
    parse_entries_path,
    parse_tile_path,
    tile_path,
    tile_path_for_size,
    tile_width,
    tiles_for_size,
)
from tests.tree.vectors import load

V = load("tiles")


def _id(case: dict[str, Any]) -> str:
    return str(case.get("path") or case.get("tessera_path") or case.get("encoded"))


@pytest.mark.parametrize("case", V["index_encoding_cases"], ids=_id)
def test_index_encoding(case: dict[str, Any]) -> None:
    assert encode_index(case["index"]) == case["encoded"]


@pytest.mark.parametrize("case", V["tile_path_width_cases"], ids=_id)
def test_tile_path_by_width(case: dict[str, Any]) -> None:
    assert tile_path(case["level"], case["index"], case["width"]) == case["path"]
    assert parse_tile_path(case["path"]) == (case["level"], case["index"], case["width"])


@pytest.mark.parametrize("case", V["tile_path_size_cases"], ids=_id)
def test_tile_path_by_size(case: dict[str, Any]) -> None:
    assert tile_path_for_size(case["level"], case["index"], case["size"]) == case["path"]


@pytest.mark.parametrize("case", V["entry_bundle_width_cases"], ids=_id)
def test_entry_bundle_path_by_width(case: dict[str, Any]) -> None:
    assert entries_path(case["index"], case["width"]) == case["path"]
    assert parse_entries_path(case["path"]) == (case["index"], case["width"])


@pytest.mark.parametrize("case", V["entry_bundle_size_cases"], ids=_id)
def test_entry_bundle_path_by_size(case: dict[str, Any]) -> None:
    assert entries_path_for_size(case["index"], case["size"]) == case["path"]


@pytest.mark.parametrize("case", V["entry_bundle_for_entry_cases"], ids=_id)
def test_entry_bundle_for_entry(case: dict[str, Any]) -> None:
    assert case["entry_index"] < case["size"]
    assert entries_path_for_size(case["entry_index"] // 256, case["size"]) == case["path"]


@pytest.mark.parametrize("case", V["parse_ok_cases"], ids=_id)
def test_parse_ok(case: dict[str, Any]) -> None:
    assert case["path"] == f"tile/{case['level_str']}/{case['index_str']}"
    want = (case["level"], case["index"], case["width"])
    assert parse_tile_path(case["path"]) == want
    assert tile_path(*want) == case["path"]


@pytest.mark.parametrize("case", V["parse_error_cases"], ids=_id)
def test_parse_error(case: dict[str, Any]) -> None:
    with pytest.raises(MalformedError):
        parse_tile_path(case["path"])
    level_ok = case["level_str"] in {str(level) for level in range(MAX_TILE_LEVEL + 1)}
    if level_ok:  # then the index part is at fault, and is for an entry bundle too
        with pytest.raises(MalformedError):
            parse_entries_path(f"tile/entries/{case['index_str']}")


@pytest.mark.parametrize("case", V["tessera_size_quirks"], ids=_id)
def test_tessera_size_quirks(case: dict[str, Any]) -> None:
    """C2SP: empty tiles MUST NOT be served, so we refuse to name them (Tessera does not)."""
    if case["function"] == "TilePath":
        assert tile_width(case["level"], case["index"], case["size"]) == 0
        with pytest.raises(InvalidRangeError):
            tile_path_for_size(case["level"], case["index"], case["size"])
    else:
        assert case["function"] == "EntriesPath"
        assert tile_width(0, case["index"], case["size"]) == 0
        with pytest.raises(InvalidRangeError):
            entries_path_for_size(case["index"], case["size"])


@pytest.mark.parametrize("tree", V["trees"], ids=lambda t: str(t["size"]))
def test_tree_tile_lists(tree: dict[str, Any]) -> None:
    assert tiles_for_size(tree["size"]) == tree["tiles"]
    assert entry_bundles_for_size(tree["size"]) == tree["entry_bundles"]
    for path in tree["tiles"]:
        level, index, width = parse_tile_path(path)
        assert tile_width(level, index, tree["size"]) == width


def test_small_sizes() -> None:
    assert tiles_for_size(0) == entry_bundles_for_size(0) == []
    assert tiles_for_size(1) == ["tile/0/000.p/1"]
    assert tiles_for_size(65536) == [f"tile/0/{i:03d}" for i in range(256)] + [
        "tile/1/000",
        "tile/2/000.p/1",
    ]


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/x000/001",  # leading zero group
        "tile/0/000.p/1.p/2",
        "tile/0/000/",
        "tile/0/ 000",
        "tile/0/٠٠٠",  # non-ASCII digits
        "tile/0/0000",
        "tile/0/00",
        "tile/0/x001",
        "tile/entries/000",
        "tile//000",
        "tile/0",
        "/tile/0/000",
        "tile/0/000" + "/x000" * 40,
    ],
)
def test_more_parse_errors(path: str) -> None:
    with pytest.raises(MalformedError):
        parse_tile_path(path)


def test_entries_path_errors() -> None:
    for path in ("tile/0/000", "tile/entries/", "tile/entries/000.p/256", "tile/entrie/000"):
        with pytest.raises(MalformedError):
            parse_entries_path(path)


def test_misuse_is_value_error() -> None:
    for call in (
        lambda: encode_index(-1),
        lambda: encode_index(MAX_SIZE + 1),
        lambda: tile_path(64, 0),
        lambda: tile_path(0, 0, 0),
        lambda: tile_path(0, 0, 257),
        lambda: entries_path(0, 0),
        lambda: tile_width(0, 0, -1),
        lambda: tiles_for_size(-1),
        lambda: encode_entry_bundle([b"x" * (MAX_ENTRY_SIZE + 1)]),
        lambda: encode_entry_bundle([b""] * 257),
    ):
        with pytest.raises(ValueError):
            call()


def test_entry_bundles() -> None:
    entries = [b"", b"a", b"\0" * MAX_ENTRY_SIZE]
    data = encode_entry_bundle(entries)
    assert data[:5] == b"\0\0\0\1a"
    assert decode_entry_bundle(data) == entries
    assert decode_entry_bundle(data, width=3) == entries
    for bad, width in ((data, 2), (data[:-1], None), (data + b"\0", None), (b"", None)):
        with pytest.raises(MalformedError):
            decode_entry_bundle(bad, width)
    with pytest.raises(MalformedError, match="more than 256"):
        decode_entry_bundle(b"\0\0" * 257)


@given(st.integers(0, MAX_TILE_LEVEL), st.integers(0, MAX_SIZE), st.integers(1, 256))
def test_tile_path_round_trip(level: int, index: int, width: int) -> None:
    assert parse_tile_path(tile_path(level, index, width)) == (level, index, width)
    assert parse_entries_path(entries_path(index, width)) == (index, width)


@given(st.integers(0, 2**64 - 1), st.integers(0, 7), st.integers(0, 2**20))
def test_width_matches_definition(size: int, level: int, index: int) -> None:
    hashes_at_level = size // 256**level  # complete subtrees of 256^level leaves
    want = max(0, min(256, hashes_at_level - index * 256))
    assert tile_width(level, index, size) == want


@given(st.integers(0, 300_000))
def test_tile_list_matches_widths(size: int) -> None:
    for path in tiles_for_size(size):
        level, index, width = parse_tile_path(path)
        assert tile_width(level, index, size) == width


@given(st.text(st.sampled_from("tile/entrs0123456789x.p"), max_size=40))
def test_garbage_raises_only_malformed(path: str) -> None:
    for parse in (parse_tile_path, parse_entries_path):
        try:
            parsed = parse(path)
        except MalformedError:
            continue
        assert parsed[-1] >= 1


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=256))
def test_bundle_round_trip(entries: list[bytes]) -> None:
    assert decode_entry_bundle(encode_entry_bundle(entries), len(entries)) == entries


@given(st.binary(max_size=200))
def test_bundle_garbage_raises_only_malformed(data: bytes) -> None:
    try:
        entries = decode_entry_bundle(data)
    except MalformedError:
        return
    assert encode_entry_bundle(entries) == data
