"""The bytes of the search index's keys: field codes, values as key bytes, offsets shared by
values that make one key (the layout is drawn in storage/index.py; docs/search.md).

A value is its UTF-8, cut to ``MAX_VALUE_BYTES``, with every 00 byte written 00 ff, so
``00 00`` (``END``) ends it and the lists of one value sort by index.
"""

from __future__ import annotations

from typing import Final

MAX_VALUE_BYTES: Final = 128
CODES: Final = {"actor": b"a", "action": b"c", "resource": b"r", "outcome": b"o",
                "source": b"s", "principal": b"p", "request_id": b"q"}
END: Final = b"\x00\x00"
# Fields filed in one list per batch (storage/batchlists.py), not by value, and their codes.
LISTED: Final = {"request_id": b"q", "action": b"C", "outcome": b"O"}
U64_MAX: Final = 2**64 - 1


def u64(value: int) -> bytes:
    """``value`` as 8 bytes big-endian, clamped to [0, 2^64 - 1]."""
    return min(max(value, 0), U64_MAX).to_bytes(8, "big")


def escape(value: str) -> bytes:
    """A value as key bytes: UTF-8, cut to ``MAX_VALUE_BYTES``, 00 written 00 ff."""
    return value.encode("utf-8", "surrogatepass")[:MAX_VALUE_BYTES].replace(b"\x00", b"\x00\xff")


def utf8(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def field_code(name: str) -> bytes:
    """The key bytes of a field: one of ``CODES`` or ``attr.<key>``."""
    if name.startswith("attr."):
        return b"@" + escape(name[5:]) + END
    code = CODES.get(name)
    if code is None:
        raise ValueError(f"field {name!r}: want one of {sorted(CODES)} or attr.<key>")
    return code


def merge(lists: dict[bytes, list[int]], key: bytes, offsets: list[int]) -> None:
    """Add ``offsets`` to the list of ``key`` (two values cut to the same bytes, or the same
    value from an event and from a parsed entry, share one list)."""
    known = lists.get(key)
    lists[key] = offsets if known is None else sorted({*known, *offsets})
