"""Tile and entry-bundle paths, c2sp.org/tlog-tiles ("Merkle Tree", "Partial Tiles", "Log
entries"; editor's copy at C2SP/C2SP 5ba5ee83).

::

    tile/<L>/<N>[.p/<W>]        L in 0..63; hash i of tile N at level L is the root of
    tile/entries/<N>[.p/<W>]    entries [(N*256+i)*256^L, (N*256+i+1)*256^L); W in 1..255

``N`` is written in zero-padded three-digit groups, all but the last prefixed ``x``:
1234067 is ``x001/x234/067``. Integers are at most 2^64-1. A path is parsed only in its canonical
form: no leading zeros in ``L`` or ``W``, no leading ``x000`` group, no ``.p/256``.

Width: the tile at level L with index N holds ``min(256, floor(size / 256^L) - 256*N)`` hashes of a
tree of ``size`` leaves; 256 means full (no ``.p/``), 0 or less means the tile does not exist at
that size. C2SP: empty tiles MUST NOT be served, so asking for the path of a tile that does not
exist raises ``InvalidRangeError`` (Tessera instead renders a full path; see
``tests/vectors/tiles.json`` ``tessera_size_quirks``).

Entry bundles are ``uint16 big-endian length || entry`` repeated, one per leaf of the tile.
``parse_tile_path`` parses Merkle tiles only; ``parse_entries_path`` parses entry bundles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from auditlog_tlog.tree.errors import InvalidRangeError, MalformedError
from auditlog_tlog.tree.nodes import MAX_SIZE

TILE_HEIGHT: Final = 8
TILE_WIDTH: Final = 1 << TILE_HEIGHT  # 256 hashes, 8192 bytes
MAX_TILE_LEVEL: Final = 63
MAX_ENTRY_SIZE: Final = 0xFFFF  # the uint16 length prefix
MAX_PATH_LENGTH: Final = 128
_LEVEL: Final = re.compile("0|[1-9][0-9]?")
_WIDTH: Final = re.compile("[1-9][0-9]{0,2}")
_GROUP: Final = re.compile("[0-9]{3}")


def _check(what: str, value: int, high: int, low: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what}: got {value!r}, want an integer in [{low}, {high}]")


def encode_index(n: int) -> str:
    """1234067 -> ``x001/x234/067``."""
    _check("tile index", n, MAX_SIZE)
    groups = [f"{n % 1000:03d}"]
    while (n := n // 1000) > 0:
        groups.append(f"x{n % 1000:03d}")
    return "/".join(reversed(groups))


def _suffix(width: int) -> str:
    _check("tile width", width, TILE_WIDTH, 1)
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<level>/<index>[.p/<width>]``; width 256 is a full tile."""
    _check("tile level", level, MAX_TILE_LEVEL)
    return f"tile/{level}/{encode_index(index)}{_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """``tile/entries/<index>[.p/<width>]``; width 256 is a full bundle."""
    return f"tile/entries/{encode_index(index)}{_suffix(width)}"


def tile_width(level: int, index: int, size: int) -> int:
    """How many hashes the tile holds in a tree of ``size`` leaves; 0 if it does not exist."""
    _check("tile level", level, MAX_TILE_LEVEL)
    _check("tile index", index, MAX_SIZE)
    _check("tree size", size, MAX_SIZE)
    return max(0, min(TILE_WIDTH, (size >> (TILE_HEIGHT * level)) - index * TILE_WIDTH))


def tile_path_for_size(level: int, index: int, size: int) -> str:
    """The path of the tile at ``size``; ``InvalidRangeError`` if it does not exist then."""
    if (width := tile_width(level, index, size)) == 0:
        raise InvalidRangeError(f"tile {level}/{index} does not exist at tree size {size}")
    return tile_path(level, index, width)


def entries_path_for_size(index: int, size: int) -> str:
    """The path of entry bundle ``index`` at ``size``; ``InvalidRangeError`` if it is empty."""
    if (width := tile_width(0, index, size)) == 0:
        raise InvalidRangeError(f"entry bundle {index} does not exist at tree size {size}")
    return entries_path(index, width)


def _widths(level: int, size: int) -> Iterable[tuple[int, int]]:
    n = size >> (TILE_HEIGHT * level)
    yield from ((i, TILE_WIDTH) for i in range(n // TILE_WIDTH))
    if n % TILE_WIDTH:
        yield n // TILE_WIDTH, n % TILE_WIDTH


def tiles_for_size(size: int) -> list[str]:
    """Every tile a log of ``size`` leaves serves, level 0 first, then by index."""
    _check("tree size", size, MAX_SIZE)
    levels = range(MAX_TILE_LEVEL + 1)
    return [tile_path(lv, i, w) for lv in levels if size >> (8 * lv) for i, w in _widths(lv, size)]


def entry_bundles_for_size(size: int) -> list[str]:
    """Every entry bundle a log of ``size`` leaves serves, by index."""
    _check("tree size", size, MAX_SIZE)
    return [entries_path(i, w) for i, w in _widths(0, size)]


def _parse_index_and_width(rest: str, path: str) -> tuple[int, int]:
    body, dot, width_str = rest.partition(".p/")
    width = TILE_WIDTH
    if dot:
        if not _WIDTH.fullmatch(width_str) or int(width_str) >= TILE_WIDTH:
            raise MalformedError(f"tile path {path!r}: got width {width_str!r}, want 1..255")
        width = int(width_str)
    groups = body.split("/")
    if any(not g.startswith("x") for g in groups[:-1]) or groups[-1].startswith("x"):
        raise MalformedError(f"tile path {path!r}: want 'x' on every index group but the last")
    digits = [g.removeprefix("x") for g in groups]
    if not all(_GROUP.fullmatch(d) for d in digits) or (len(digits) > 1 and digits[0] == "000"):
        raise MalformedError(f"tile path {path!r}: want canonical 3-digit index groups")
    index = int("".join(digits))
    if index > MAX_SIZE:
        raise MalformedError(f"tile path {path!r}: got index {index}, want at most 2^64-1")
    return index, width


def _split(path: str) -> tuple[str, str]:
    if len(path) > MAX_PATH_LENGTH or not path.startswith("tile/"):
        raise MalformedError(f"tile path {path[:MAX_PATH_LENGTH]!r}: want 'tile/...'")
    first, _, rest = path[len("tile/") :].partition("/")
    return first, rest


def parse_tile_path(path: str) -> tuple[int, int, int]:
    """``tile/<L>/<N>[.p/<W>]`` -> (level, index, width), width 256 for a full tile."""
    level_str, rest = _split(path)
    if not _LEVEL.fullmatch(level_str) or int(level_str) > MAX_TILE_LEVEL:
        raise MalformedError(f"tile path {path!r}: got level {level_str!r}, want 0..63")
    return (int(level_str), *_parse_index_and_width(rest, path))


def parse_entries_path(path: str) -> tuple[int, int]:
    """``tile/entries/<N>[.p/<W>]`` -> (index, width), width 256 for a full bundle."""
    first, rest = _split(path)
    if first != "entries":
        raise MalformedError(f"entry bundle path {path!r}: want 'tile/entries/...'")
    return _parse_index_and_width(rest, path)


def encode_entry_bundle(entries: Iterable[bytes]) -> bytes:
    """Concatenate ``uint16 big-endian length || entry`` for at most 256 entries."""
    out = bytearray()
    for count, entry in enumerate(entries, 1):
        if count > TILE_WIDTH or len(entry) > MAX_ENTRY_SIZE:
            raise ValueError(f"want at most {TILE_WIDTH} entries of at most {MAX_ENTRY_SIZE} bytes")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_entry_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """Split an entry bundle; ``width`` (if given) is the exact number of entries expected."""
    if not data:
        raise MalformedError("entry bundle: got 0 bytes, want at least one entry")
    data = bytes(data)
    size = len(data)
    entries: list[bytes] = []
    append = entries.append
    pos = 0
    # The loop checks only what it must to stay in bounds; the counts are checked after it
    # (a bundle of more than TILE_WIDTH entries is at most 64 KiB longer than one of 256).
    while pos < size - 1:
        start = pos + 2
        pos = start + (data[pos] << 8 | data[pos + 1])
        append(data[start:pos])
        if len(entries) > TILE_WIDTH:
            raise MalformedError(f"entry bundle: more than {TILE_WIDTH} entries")
    if pos == size - 1:
        raise MalformedError(f"entry bundle: truncated length prefix at byte {pos}")
    if pos > size:
        raise MalformedError(f"entry bundle: entry {len(entries) - 1} wants "
                             f"{pos - start} bytes, truncated")
    if width is not None and len(entries) != width:
        raise MalformedError(f"entry bundle: got {len(entries)} entries, want {width}")
    return entries
