"""Batch lists of the search index: one field's values over a committed batch, in entry order
(docs/search.md, layout 3).

Some fields are filed by batch rather than by value: the request id (one value per entry, so a
posting list per value would be one key per entry) and the action and outcome (a handful of
values, each in most batches, whose posting lists cost a Python operation per entry to group).
For such a field each batch writes one value under ``<code> <first u64>`` in the index's key
space (storage/index.py)::

    ff <value of entry first> ff <value of entry first + 1> ff ... ff

each value its UTF-8 (whole: a list's value is not a key), empty for an entry without one.
UTF-8 never holds the byte ff, so ``ff <value> ff`` is found only where it is one whole value
(and ``ff <prefix>`` only at the start of one), and the number of ff before it is the entry's
offset in the batch. A search reads the lists of the batches in its range and finds the value in
each with ``bytes.find``.

A value that is not UTF-8 (raw bytes of an entry the fast path read) loses its ff bytes, so the
offsets stay whole; the parser does not read such an entry's fields at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Final

from auditlog_tlog.common.searchfields import Column

SEP: Final = b"\xff"
IDLE_LISTS: Final = 16  # lists read without a match before the scan proposes an entry


def list_value(values: Sequence[bytes]) -> bytes | None:
    """The value of a batch's list (``values[offset]``, ``b""`` where none); ``None`` when no
    entry has a value."""
    if not any(values):
        return None
    joined = SEP.join(values)
    if joined.count(SEP) != len(values) - 1:  # a value that is not UTF-8 held ff
        joined = SEP.join(value.replace(SEP, b"") for value in values)
    return SEP + joined + SEP


def column_value(column: Column) -> bytes | None:
    """:func:`list_value` of a column of the batch fast path, in one pass when no value holds
    ff."""
    value = column.joined(SEP) + SEP
    count = len(column.items)
    if value.count(SEP) != count + 1:
        return list_value(column.values())
    return None if len(value) == count + 1 else value


def joined_value(joined: bytes, count: int) -> bytes | None:
    """:func:`list_value` of a batch's ``count`` values each after ``SEP`` (common/eventbatch.py's
    ``Joined``, read with ``SEP``): ``None`` when no entry has a value."""
    return None if len(joined) == count else joined + SEP


def _wanted(needle: bytes, prefix: bool) -> bytes:
    return SEP + needle if prefix else SEP + needle + SEP


def offsets(value: bytes, needle: bytes, prefix: bool = False) -> list[int]:
    """The offsets of the entries whose value is ``needle`` (or starts with it) in a list."""
    found = []
    wanted = _wanted(needle, prefix)
    at = value.find(wanted)
    seen, counted = 0, 0  # ff before position seen
    while at >= 0:
        counted += value.count(SEP, seen, at)
        seen = at
        found.append(counted)
        at = value.find(wanted, at + 1)
    return found


def count(value: bytes, needle: bytes, prefix: bool = False) -> int:
    """How many entries of a list have the value ``needle`` (or one starting with it)."""
    return value.count(_wanted(needle, prefix))


def indexes(lists: Iterable[tuple[int, bytes]], needle: bytes, prefix: bool, begin: int,
            end: int, newest: bool) -> Iterator[int]:
    """Indexes in [begin, end) whose value is ``needle`` (or starts with it), from the (first
    index, value) lists of the batches holding them, in the order given (newest or oldest first).

    After ``IDLE_LISTS`` lists without a match the first entry of the last one read (when it is
    in the range) is proposed too: the search reads it and finds it does not match, and so a
    long scan for a rare value stays within the call's scan budget and deadline and has a place
    for its cursor to go on from."""
    if begin >= end:
        return
    idle = 0
    for first, value in lists:
        found = [i for i in map(first.__add__, offsets(value, needle, prefix))
                 if begin <= i < end]
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
    """The value of the entry at ``offset`` in a list (``None`` beyond the list)."""
    values = value.split(SEP)[1:-1]
    return values[offset] if 0 <= offset < len(values) else None
