"""Database.floors: the floor of each key, one seek per run of keys between two stored keys,
equal to a plain search over the stored keys whatever the order of the keys asked."""

from __future__ import annotations

import bisect
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.storage.db import Database


def _key(prefix: bytes, n: int) -> bytes:
    return prefix + n.to_bytes(8, "big")


@settings(max_examples=60, deadline=None)
@given(stored=st.lists(st.integers(0, 500), max_size=40, unique=True),
       asked=st.lists(st.integers(0, 520), max_size=60),
       order=st.sampled_from(["as drawn", "ascending", "descending"]))
def test_floors_equal_a_search_over_the_stored_keys(
    tmp_path_factory: object, stored: list[int], asked: list[int], order: str
) -> None:
    directory = tmp_path_factory.mktemp("floors")  # type: ignore[attr-defined]
    db = Database(Path(directory) / "db")
    try:
        wb = db.batch()
        wb.put(b"a" + bytes(8), b"before the family")  # keys of another family around it
        for n in stored:
            wb.put(_key(b"b", n), n.to_bytes(2, "big"))
        wb.put(b"c" + bytes(8), b"after the family")
        db.write(wb)
        if order != "as drawn":
            asked = sorted(asked, reverse=order == "descending")
        got = db.floors([_key(b"b", n) for n in asked], b"b")
        keys = sorted(stored)
        for n, answer in zip(asked, got, strict=True):
            at = bisect.bisect_right(keys, n)
            want = None if at == 0 else (_key(b"b", keys[at - 1]), keys[at - 1].to_bytes(2, "big"))
            assert answer == want, f"floor of {n}: got {answer}, want {want}"
    finally:
        db.close()
