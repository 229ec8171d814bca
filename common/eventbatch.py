"""A batch of plain audit events read at once, for the search index (docs/search.md, "Reading
a batch"; the event is docs/audit-event.md).

A plain event is an ``AuditEvent`` in its canonical form (sorted keys, no spaces) without
attributes and with no JSON escape in any string: its bytes between the quotes are each value's
UTF-8, as :func:`auditlog_tlog.common.searchfields.raw_keyed` reads them. Such a batch, joined
by newlines and cut at every '","', is 7 pieces an event, each a fixed skeleton (``HEADS``)
followed by one value::

    {"action":"V0","actor":"V1","attributes":{},"outcome":"V2","request_id":"V3",
    "resource":"V4","source":"V5","time":"V6","v":1}\\n{"action":"V0' ...

    piece 0: {"action":"V0        (of the next entry: "v":1}\\n{"action":"V0')
    piece 1: actor":"V1           piece 4: resource":"V4
    piece 2: attributes":{},"outcome":"V2
    piece 3: request_id":"V3      piece 5: source":"V5      piece 6: time":"V6

so piece ``k`` of entry ``i`` is piece ``7 i + k`` and a field is a slice of the pieces, with no
Python operation per entry. What proves the batch is exactly that, all or nothing: the batch
holds no 00 byte, so 00 joins the pieces of a column unambiguously and a column whose every
piece starts with its skeleton loses exactly ``len(skeleton)`` bytes per piece when every
``00 <skeleton>`` is replaced by 00; the values left then hold no quote, backslash or control
character (newlines included). So every '","' is where the template has one, the n - 1 newlines
of the skeletons are the n - 1 that joined the batch (an entry holds none), and every entry is
the template with its values filled in. The skeletons are checked on a column's distinct
values where the field is grouped by value, on every piece where it is joined.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

_TEMPLATE: Final = (b'{"action":"","actor":"","attributes":{},"outcome":"","request_id":"",'
                    b'"resource":"","source":"","time":"","v":1}')
_PLAIN: Final = _TEMPLATE.split(b'","')
_STEP: Final = len(_PLAIN) - 1  # pieces an entry
_FIRST: Final = _PLAIN[0]
_LAST: Final = _PLAIN[-1]
HEADS: Final = (_LAST + b"\n" + _FIRST, *_PLAIN[1:-1])
"""The skeleton before the value of each piece of an entry (piece 0 of the entry before's)."""
FIELDS: Final = ("action", "actor", "outcome", "request_id", "resource", "source", None)
"""The field of each piece (the time is checked, not read)."""
# Bytes no value holds: a quote, a backslash (an escape) or a control character.
_OFFSETS: Final = tuple(range(1 << 14))  # made once: grouping zips them, no int made per entry
_NOT_IN_VALUES: Final = bytes(range(0x20)) + b'"\\'


@dataclass(frozen=True, slots=True)
class Grouped:
    """One field over a batch, by value: the entries holding ``values[i]`` are at
    ``offsets[i]`` from the batch's first, ascending. No value is empty (an empty string is
    not a value)."""

    name: str
    values: list[bytes]
    offsets: list[Sequence[int]]


@dataclass(frozen=True, slots=True)
class Joined:
    """One field over a batch in entry order: each entry's value after the separator byte
    given to :func:`plain_batch` (which no value holds), empty where the entry has none."""

    name: str
    joined: bytes


@dataclass(frozen=True, slots=True)
class PlainBatch:
    grouped: tuple[Grouped, ...]
    joined: tuple[Joined, ...]


def grouped_column(name: str, items: Sequence[bytes]) -> Grouped:
    """A column of entry values (item ``i`` entry ``i``'s) grouped by value, empty ones left
    out: what the regular expressions' batch readers give (common/searchfields.py)."""
    if items and items.count(items[0]) == len(items):  # one value (an ingested batch's source)
        if not items[0]:
            return Grouped(name, [], [])
        return Grouped(name, [items[0]], [list(range(len(items)))])
    grouped: defaultdict[bytes, list[int]] = defaultdict(list)
    for offset, value in enumerate(items):
        grouped[value].append(offset)
    grouped.pop(b"", None)
    return Grouped(name, list(grouped), list(grouped.values()))


def plain_batch(entries: Sequence[bytes], joined: Collection[str], sep: bytes
                ) -> PlainBatch | None:
    """The fields of ``entries`` when every one is a plain event and no value holds the byte
    ``sep`` (else ``None``): the fields named in ``joined`` as :class:`Joined`, each value after
    ``sep``, the others :class:`Grouped`."""
    if len(sep) != 1 or sep in _NOT_IN_VALUES:
        raise ValueError(f"sep: got {sep!r}, want one byte that a value may hold")
    count = len(entries)
    if not count or not entries[0].startswith(_FIRST):
        return None  # not an event first: no whole-batch join of a batch of others
    batch = b"\n".join(entries)
    if not count or b"\x00" in batch:
        return None
    pieces = batch.split(b'","')
    if (len(pieces) != _STEP * count + 1 or pieces[-1] != _LAST
            or not pieces[0].startswith(_FIRST)):
        return None
    pieces[0] = HEADS[0] + pieces[0][len(_FIRST):]  # as every other entry's first piece
    grouped: list[Grouped] = []
    lists: list[Joined] = []
    for k, (name, head) in enumerate(zip(FIELDS, HEADS, strict=True)):
        column = pieces[k:-1:_STEP]
        if name is None:
            if not _checked(column, head):
                return None
        elif name in joined:
            values = _joined(column, head, sep)
            if values is None:
                return None
            lists.append(Joined(name, values))
        else:
            found = _grouped(name, column, head, sep)
            if found is None:
                return None
            grouped.append(found)
    return PlainBatch(tuple(grouped), tuple(lists))


def _joined(column: Sequence[bytes], head: bytes, sep: bytes) -> bytes | None:
    """``sep`` before each piece's value, when every piece is ``head`` and a value that does not
    hold ``sep`` (else ``None``).

    Every ``00 <head>`` of the column joined by 00 is overwritten in place by ``sep`` and
    ``len(head)`` bytes 01 (a replacement of the same length: no second copy), then every byte
    no value holds is deleted: no 00 left means every piece started with ``head``, and exactly
    the 01 bytes deleted means no value held such a byte."""
    pieces = b"\x00" + b"\x00".join(column)
    count = len(column)
    filled = pieces.replace(b"\x00" + head, sep + b"\x01" * len(head))
    if b"\x00" in filled:
        return None  # a piece that does not start with the skeleton
    values = filled.translate(None, _NOT_IN_VALUES)
    if len(values) != len(filled) - count * len(head) or values.count(sep) != count:
        return None  # a value holding a byte no value holds, or the separator
    return values


def _checked(column: Sequence[bytes], head: bytes) -> bool:
    """Whether every piece is ``head`` and a value (as :func:`_joined`, the values not kept:
    the number of ``00 <head>`` counted, and the bytes no value holds)."""
    pieces = b"\x00" + b"\x00".join(column)
    if pieces.count(b"\x00" + head) != len(column):
        return False
    in_head = len(head) - len(head.translate(None, _NOT_IN_VALUES))
    forbidden = len(pieces) - len(pieces.translate(None, _NOT_IN_VALUES))
    return forbidden == len(column) * (1 + in_head)


def _grouped(name: str, column: list[bytes], head: bytes, sep: bytes) -> Grouped | None:
    """The column grouped by value, each distinct piece checked to be ``head`` and a value."""
    first = column[0]
    count = len(column)
    offsets: Mapping[bytes, Sequence[int]]
    if column.count(first) == count:  # one value all through (a source, say): in C
        offsets = {first: range(count)}
    else:
        lists: defaultdict[bytes, list[int]] = defaultdict(list)
        numbers = _OFFSETS if count <= len(_OFFSETS) else range(count)
        for offset, piece in zip(numbers, column, strict=False):  # numbers may be longer
            lists[piece].append(offset)
        offsets = lists
    values = _joined(list(offsets), head, sep)
    if values is None:
        return None
    found = values[1:].split(sep)
    positions = list(offsets.values())
    if b"" in found:  # an empty string is not a value
        at = found.index(b"")
        del found[at], positions[at]
    return Grouped(name, found, positions)
