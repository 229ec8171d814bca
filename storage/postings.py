"""The posting lists of the search index: a batch's offsets of the entries filed under one
value, packed (storage/index.py, docs/search.md "Written with the entries").

A list is ``w`` (one byte: 2 when the batch has at most 65,536 entries, else 4) then the
offsets from the batch's first index, ascending, ``w`` bytes each, little-endian.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Callable, Sequence
from typing import Final

from auditlog_tlog.tree.errors import CorruptionError

_WIDTHS: Final = {2: "H", 4: "I"}
_SWAP: Final = sys.byteorder != "little"
_SINGLES: Final[list[tuple[bytes, ...]]] = [()]  # pack_offsets((offset,), 2) by offset
_ALL: Final[dict[tuple[int, int], bytes]] = {}  # pack_offsets(range(count), width)
_PACK2: Final[dict[int, Callable[..., bytes]]] = {}  # pack2's packer of each length


def pack_offsets(offsets: Sequence[int], width: int) -> bytes:
    """A posting list's value: ``width`` (2 or 4) then the offsets, little-endian."""
    packed = array(_WIDTHS[width], offsets)
    if _SWAP:
        packed.byteswap()
    return bytes([width]) + packed.tobytes()


def pack2(offsets: Sequence[int]) -> bytes:
    """:func:`pack_offsets` of width 2, with one ``struct`` packer per length (in C, without
    the array's conversion of each offset)."""
    count = len(offsets)
    packer = _PACK2.get(count)
    if packer is None:
        packer = struct.Struct(f"<B{count}H").pack
        if len(_PACK2) < 4096:  # the lengths that recur; any other is compiled each time
            _PACK2[count] = packer
    return packer(2, *offsets)


def unpack_offsets(value: bytes) -> array[int]:
    """The offsets of a posting list's value (CorruptionError when it is not one)."""
    code = _WIDTHS.get(value[0]) if value else None
    if code is None or (len(value) - 1) % value[0]:
        raise CorruptionError(f"search index: got a posting list of {len(value)} bytes "
                              f"starting {value[:1].hex()}, want 02 or 04 and whole offsets")
    offsets = array(code)
    offsets.frombytes(value[1:])
    if _SWAP:
        offsets.byteswap()
    return offsets


def singles(width: int, count: int) -> Sequence[bytes]:
    """The posting lists of one entry each at offsets 0 to ``count`` - 1."""
    if width != 2:
        return [pack_offsets((offset,), width) for offset in range(count)]
    table = _SINGLES[0]
    if len(table) < count:  # replaced whole: the writers of several logs may read it at once
        table = tuple(pack_offsets((offset,), 2) for offset in range(max(count, 2 * len(table))))
        _SINGLES[0] = table
    return table[:count]


def all_offsets(width: int, count: int) -> bytes:
    """The posting list of every entry at offsets 0 to ``count`` - 1."""
    key = (width, count)
    found = _ALL.get(key)
    if found is None:
        found = pack_offsets(range(count), width)
        if len(_ALL) < 64:  # a few batch sizes recur; any other is packed each time
            _ALL[key] = found
    return found
