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
    """One field over a batch in entry order: each entry's value after a 00 byte (which no
    value holds), empty where the entry has none."""

    name: str
    joined: bytes


@dataclass(frozen=True, slots=True)
class PlainBatch:
    grouped: tuple[Grouped, ...]
    joined: tuple[Joined, ...]


def plain_batch(entries: Sequence[bytes], joined: Collection[str]) -> PlainBatch | None:
    """The fields of ``entries`` when every one is a plain event (else ``None``): the fields
    named in ``joined`` as :class:`Joined`, the others :class:`Grouped`."""
    count = len(entries)
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
            values = _joined(column, head)
            if values is None:
                return None
            lists.append(Joined(name, values))
        else:
            found = _grouped(name, column, head)
            if found is None:
                return None
            grouped.append(found)
    return PlainBatch(tuple(grouped), tuple(lists))


def _joined(column: Sequence[bytes], head: bytes) -> bytes | None:
    """00 before each piece's value, when every piece is ``head`` and a value (else None)."""
    pieces = b"\x00" + b"\x00".join(column)
    values = pieces.replace(b"\x00" + head, b"\x00")
    if len(values) != len(pieces) - len(column) * len(head):
        return None  # a piece that does not start with the skeleton
    if len(values.translate(None, _NOT_IN_VALUES)) != len(values) - len(column):
        return None  # a value holding a byte no value holds (besides the 00 before each)
    return values


def _checked(column: Sequence[bytes], head: bytes) -> bool:
    """Whether every piece is ``head`` and a value (as :func:`_joined`, the values not kept)."""
    pieces = b"\x00" + b"\x00".join(column)
    if pieces.count(b"\x00" + head) != len(column):
        return False
    in_head = len(head) - len(head.translate(None, _NOT_IN_VALUES))
    forbidden = len(pieces) - len(pieces.translate(None, _NOT_IN_VALUES))
    return forbidden == len(column) * (1 + in_head)


def _grouped(name: str, column: list[bytes], head: bytes) -> Grouped | None:
    """The column grouped by value, each distinct piece checked to be ``head`` and a value."""
    first = column[0]
    count = len(column)
    offsets: Mapping[bytes, Sequence[int]]
    if column.count(first) == count:  # one value all through (a source, say): in C
        offsets = {first: range(count)}
    else:
        lists: defaultdict[bytes, list[int]] = defaultdict(list)
        for offset, piece in enumerate(column):
            lists[piece].append(offset)
        offsets = lists
    values = _joined(list(offsets), head)
    if values is None:
        return None
    found = values[1:].split(b"\x00")
    positions = list(offsets.values())
    if b"" in found:  # an empty string is not a value
        at = found.index(b"")
        del found[at], positions[at]
    return Grouped(name, found, positions)
