"""The records of the witness journal (``witness.journal``), framed so that a torn write is
found: a big-endian u32 length, a u32 CRC-32 (zlib) of the payload, and the payload, one JSON
object (the state of c2sp.org/tlog-witness@v1.0.0 that a swap persists, or an archive marker).
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import zlib
from pathlib import Path
from typing import Any, Final

from auditlog_tlog.tree.errors import CorruptionError
from auditlog_tlog.witness.state import MAX_STATE_FILE, WitnessedState, decode_state

_HEADER: Final = struct.Struct(">II")


def encode_record(doc: dict[str, Any]) -> bytes:
    payload = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def state_record(state: WitnessedState) -> bytes:
    return encode_record({"origin": state.origin, "size": state.size,
                    "root": base64.b64encode(state.root).decode(),
                    "checkpoint": state.checkpoint.decode()})


def read_records(data: bytes) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """(offset, payload) of each whole record, and the offset where the valid journal ends: at
    the first record that is short, too long, fails its CRC or is not a JSON object."""
    out: list[tuple[int, dict[str, Any]]] = []
    at = 0
    while at + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, at)
        end = at + _HEADER.size + length
        if length > MAX_STATE_FILE or end > len(data):
            break
        payload = data[at + _HEADER.size:end]
        if zlib.crc32(payload) != crc:
            break
        try:
            doc = json.loads(payload)
        except ValueError:
            break
        if not isinstance(doc, dict):
            break
        out.append((at, doc))
        at = end
    return out, at


def read_state_files(directory: Path) -> list[WitnessedState]:
    """The states in a directory of ``witness.state.FileStateStore`` JSON files (imported once
    into a new journal); ``CorruptionError`` for a file that is not one."""
    states = []
    for path in sorted(directory.glob("*.json")):
        try:
            doc = json.loads(path.read_bytes()[:MAX_STATE_FILE + 1])
            states.append(decode_state(doc, str(doc.get("origin"))))
        except (OSError, ValueError, KeyError, AttributeError, binascii.Error) as exc:
            raise CorruptionError(f"state file {path} cannot be imported: {exc}") from exc
    return states
