"""The request ids of the search index: one list per committed batch (docs/search.md, layout 3).

A request id names one entry (one value per entry), so a posting list per value would be one
key per entry: the most of the index's keys and of its cost on the append path. Instead each
batch writes one value holding its entries' request ids in entry order, under
``q <first u64>`` in the index's key space (storage/index.py)::

    ff <id of entry first> ff <id of entry first + 1> ff ... ff

each id its UTF-8 (whole: a value is not a key), empty for an entry without one. UTF-8 never holds
the byte ff, so ``ff <id> ff`` is found only where it is one whole id, and the number of ff
before it is the entry's offset in the batch. A search by request id reads the lists of the
batches in its range (one per batch: a request id alone is the most expensive exact filter,
so any other exact filter drives before it) and finds the id in each with ``bytes.find``.

An id that is not UTF-8 (raw bytes of an entry the fast path read) loses its ff bytes, so the
offsets stay whole; the parser does not read such an entry's fields at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Final

from auditlog_tlog.common.searchfields import Column

SEP: Final = b"\xff"
IDLE_LISTS: Final = 16  # lists read without a match before the scan proposes an entry


def list_value(ids: Sequence[bytes]) -> bytes | None:
    """The value of a batch's list (``ids[offset]``, ``b""`` where none); ``None`` when no
    entry has an id."""
    if not any(ids):
        return None
    joined = SEP.join(ids)
    if joined.count(SEP) != len(ids) - 1:  # an id that is not UTF-8 held ff
        joined = SEP.join(value.replace(SEP, b"") for value in ids)
    return SEP + joined + SEP


def column_value(column: Column) -> bytes | None:
    """:func:`list_value` of a column of the batch fast path, in one pass when no id holds ff."""
    value = column.joined(SEP) + SEP
    count = len(column.items)
    if value.count(SEP) != count + 1:
        return list_value(column.values())
    return None if len(value) == count + 1 else value


def offsets(value: bytes, needle: bytes) -> list[int]:
    """The offsets of the entries whose id is ``needle`` (already cut) in a list's value."""
    found = []
    wanted = SEP + needle + SEP
    at = value.find(wanted)
    while at >= 0:
        found.append(value.count(SEP, 0, at))
        at = value.find(wanted, at + len(wanted) - 1)
    return found


def indexes(lists: Iterable[tuple[int, bytes]], needle: bytes, begin: int, end: int,
            newest: bool) -> Iterator[int]:
    """Indexes in [begin, end) whose id is ``needle``, from the (first index, value) lists of
    the batches holding them, in the order given (newest or oldest first).

    After ``IDLE_LISTS`` lists without a match the first entry of the last one read (when it is
    in the range) is proposed too: the search reads it and finds it does not match, and so a
    long scan for a rare id stays within the call's scan budget and deadline and has a place
    for its cursor to go on from."""
    if begin >= end:
        return
    idle = 0
    for first, value in lists:
        found = [i for i in map(first.__add__, offsets(value, needle)) if begin <= i < end]
        if found:
            idle = 0
            yield from reversed(found) if newest else found
        else:
            idle += 1
            if idle >= IDLE_LISTS and begin <= first < end:
                idle = 0
                yield first
        if newest and first <= begin:
            return


def at(value: bytes, offset: int) -> bytes | None:
    """The id of the entry at ``offset`` in a list's value (``None`` beyond the list)."""
    ids = value.split(SEP)[1:-1]
    return ids[offset] if 0 <= offset < len(ids) else None
