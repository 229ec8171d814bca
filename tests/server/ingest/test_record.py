"""The canonical entry of an ingested record: deterministic, lossless, no delivery detail."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.server.ingest.record import (
    IngestRecord,
    SearchFields,
    encode_entry,
    rfc3339_nanos,
    rfc3339_utc,
    utc_of_z_second,
)
from auditlog_tlog.tree.errors import MalformedError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _rec(record: dict[str, Any], principal: str | None = "payments") -> IngestRecord:
    return IngestRecord("otlp-grpc", principal, SearchFields(actor="alice", time="2026-01-02T03:04:05Z"),
                        record)


def test_the_entry_layout_is_the_documented_one() -> None:
    entry = encode_entry(_rec({"body": "héllo", "b": [1, 2]}))
    assert entry == (
        b'{"fields":{"action":null,"actor":"alice","outcome":null,"resource":null,'
        b'"time":"2026-01-02T03:04:05Z"},"record":{"b":[1,2],"body":"h\xc3\xa9llo"},'
        b'"source":{"principal":"payments","transport":"otlp-grpc"},"v":1}'
    )


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_encoding_is_deterministic_and_lossless(record: dict[str, Any]) -> None:
    entry = encode_entry(_rec(record))
    assert entry == encode_entry(_rec(dict(reversed(list(record.items())))))
    assert json.loads(entry)["record"] == record
    assert encode_entry(_rec(json.loads(entry)["record"])) == entry  # parse and encode again: same bytes


@pytest.mark.parametrize("bad", [
    {"x": float("nan")}, {"x": [None, {"y": -float("inf")}]}, {"x": b"raw"}, {1: 2j}, {"x": 2**64},
])
def test_what_json_cannot_hold_is_malformed(bad: dict[Any, Any]) -> None:
    with pytest.raises(MalformedError, match="cannot be encoded as JSON"):
        encode_entry(_rec(bad))


def test_a_lone_surrogate_is_malformed() -> None:
    with pytest.raises(MalformedError, match="cannot be encoded as JSON"):
        encode_entry(_rec({"body": "\udc80"}))


def test_search_fields_are_strings() -> None:
    with pytest.raises(TypeError, match="want str or None"):
        SearchFields(actor=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("nanos", "text"), [
    (0, "1970-01-01T00:00:00Z"),
    (1_764_467_100_000_000_001, "2025-11-30T01:45:00.000000001Z"),
    (1_764_467_100_500_000_000, "2025-11-30T01:45:00.500000000Z"),
])
def test_nanos_render_as_rfc3339(nanos: int, text: str) -> None:
    assert rfc3339_nanos(nanos) == text


def test_nanos_out_of_range_are_malformed() -> None:
    with pytest.raises(MalformedError, match=r"want 0\.\."):
        rfc3339_nanos(-1)


@pytest.mark.parametrize(("given_", "want"), [
    ("2026-11-30T01:45:00Z", "2026-11-30T01:45:00Z"),
    ("2026-11-30T02:45:00.123456+01:00", "2026-11-30T01:45:00.123456Z"),
    ("2026-11-30T01:45:00.123456789Z", "2026-11-30T01:45:00.123456789Z"),
])
def test_rfc3339_is_normalised_to_utc(given_: str, want: str) -> None:
    assert rfc3339_utc(given_) == want


@pytest.mark.parametrize("stamp", ["2026-11-30T01:45:00Z", "2026-11-30T01:45:00.5Z",
                                   "0001-01-01T00:00:00.123456789Z", "9999-12-31T23:59:59Z"])
def test_a_utc_stamps_seconds_convert_as_the_whole_stamp_does(stamp: str) -> None:
    utc = utc_of_z_second(stamp[:19])
    assert utc is not None and utc + stamp[19:] == rfc3339_utc(stamp)


@pytest.mark.parametrize("second", ["2026-02-30T01:45:00", "0000-01-01T00:00:00", "2026-11-30"])
def test_a_second_that_is_not_a_time_is_left_to_rfc3339_utc(second: str) -> None:
    assert utc_of_z_second(second) is None
    with pytest.raises(MalformedError, match="time"):
        rfc3339_utc(second + "Z")


@pytest.mark.parametrize("bad", ["yesterday", "2026-11-30T01:45:00", "2026-11-30T01:45:00.1234567891Z",
                                 "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_bad_rfc3339_is_malformed(bad: str) -> None:
    with pytest.raises(MalformedError, match="time"):
        rfc3339_utc(bad)
