"""Canonical text encodings shared by the C2SP formats: base64 and decimal (strict forms only)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

from auditlog_tlog.tree.errors import MalformedError

MAX_UINT64: Final = (1 << 64) - 1
MAX_BASE64: Final = 1 << 20  # characters, unless a caller says otherwise
_DECIMAL: Final = re.compile("0|[1-9][0-9]{0,19}")


def decode_base64(text: str, what: str, max_len: int = MAX_BASE64) -> bytes:
    """Decode canonical standard padded base64 (RFC 4648 §4), or raise ``MalformedError``."""
    if len(text) > max_len:
        raise MalformedError(f"{what}: got {len(text)} base64 characters, want at most {max_len}")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError(f"{what}: got {text[:64]!r}, want standard padded base64") from None
    if base64.b64encode(data).decode() != text:
        raise MalformedError(f"{what}: got non-canonical base64 {text[:64]!r}")
    return data


def encode_base64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def parse_decimal(text: str, what: str, max_value: int = MAX_UINT64) -> int:
    """Parse ASCII decimal without leading zeros ("0" alone is fine), at most ``max_value``."""
    if not _DECIMAL.fullmatch(text) or int(text) > max_value:
        raise MalformedError(f"{what}: got {text[:32]!r}, want a decimal in [0, {max_value}]")
    return int(text)
