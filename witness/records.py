"""The records of the witness journal (``witness.journal``), framed so that a torn write is
found: a big-endian u32 length, a u32 CRC-32 (zlib) of the payload, and the payload, one JSON
object (the state of c2sp.org/tlog-witness@v1.0.0 that a swap persists, or an archive marker);
and the replay of a journal's records at open (:func:`replay`). Layout (big-endian)::

    u32 length | u32 CRC-32 of the payload | payload: a JSON object
      {"origin": ..., "size": ..., "root": <base64>, "checkpoint": <note>}   a state (a swap)
      {"archived_to": <offset>}                   every note of a record before offset is synced
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any, Final, NamedTuple

from auditlog_tlog.common.files import fsync_dir
from auditlog_tlog.tree.errors import CorruptionError, StorageError
from auditlog_tlog.witness.archive import cosigned_key
from auditlog_tlog.witness.state import MAX_STATE_FILE, WitnessedState, decode_state

_HEADER: Final = struct.Struct(">II")


class Pending(NamedTuple):
    """A state record whose note is not yet synced in the archive."""

    offset: int
    key: str
    note: bytes
    record: bytes


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


def replay(records: list[tuple[int, dict[str, Any]]], path: Path, archive: bool
           ) -> tuple[dict[str, WitnessedState], list[Pending]]:
    """The states the records of the journal at ``path`` end at, per origin, and (with an
    ``archive``) the records after the last archive marker; ``CorruptionError`` for a record
    that is not a state, or a size that goes back."""
    states: dict[str, WitnessedState] = {}
    pending: list[Pending] = []
    for offset, doc in records:
        if "archived_to" in doc:
            mark = doc["archived_to"]
            pending = [p for p in pending if p.offset >= mark]
            continue
        try:
            state = decode_state(doc, str(doc.get("origin")))
        except (ValueError, KeyError, binascii.Error) as exc:
            raise CorruptionError(f"witness journal {path} at {offset}: {exc}") from exc
        before = states.get(state.origin)
        if before is not None and state.size < before.size:
            raise CorruptionError(
                f"witness journal {path} at {offset}: {state.origin} goes back from "
                f"size {before.size} to {state.size}, want sizes that never decrease")
        states[state.origin] = state
        if archive:
            key = cosigned_key(state.origin, state.size, state.checkpoint)
            pending.append(Pending(offset, key, state.checkpoint, state_record(state)))
    return states, pending


def compacted(states: list[WitnessedState], pending: list[Pending]) -> tuple[bytes, list[Pending]]:
    """A compacted journal: the ``states`` whose notes are archived, a marker, and the
    ``pending`` records (with their new offsets, returned too)."""
    pending_keys = {p.key for p in pending}
    settled = [s for s in states
               if cosigned_key(s.origin, s.size, s.checkpoint) not in pending_keys]
    head = b"".join(state_record(s) for s in settled)
    parts = [head, encode_record({"archived_to": len(head)})]
    at = len(parts[0]) + len(parts[1])
    moved = []
    for p in pending:
        moved.append(Pending(at, p.key, p.note, p.record))
        parts.append(p.record)
        at += len(p.record)
    return b"".join(parts), moved


def write_journal(path: Path, data: bytes) -> int:
    """Replace the journal at ``path`` with ``data`` (temporary file, fsync, rename, directory
    fsync); returns the open descriptor of the new journal."""
    tmp = path.parent / f".{path.name}.tmp"
    try:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            os.replace(tmp, path)
            fsync_dir(path.parent)
        except BaseException:
            os.close(fd)
            raise
    except OSError as exc:
        raise StorageError(f"cannot write the witness journal {path}: {exc.strerror}") from exc
    return fd
