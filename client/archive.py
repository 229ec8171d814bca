"""Reading a witness's local write-once archive (the layout of ``witness.archive``)::

    <root>/cosigned/<hex sha256(origin)>/<size>/<hex sha256(note)>   a cosigned checkpoint note
    <root>/evidence/<hex sha256(origin)>/<size>/<hex sha256(pair)>   a fork shown to the witness

Only reading: the auditor checks what the witness wrote, it never writes there. Every object is
checked for what its name promises (its size directory, its content hash). An evidence object is
the JSON document ``witness.core`` writes: the note it had cosigned (``witnessed``) and the one
presented against it (``presented``), each signed by the log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

MAX_OBJECT: Final = 2 << 20


@dataclass(frozen=True, slots=True)
class ArchivedObject:
    path: Path
    size: int  # from the directory name
    data: bytes
    problem: str | None  # why the object is not what its name says, if it is not


def _origin_dir(root: Path, kind: str, origin: str) -> Path:
    return root / kind / hashlib.sha256(origin.encode()).hexdigest()


def _objects(directory: Path, check_hash: bool) -> Iterator[ArchivedObject]:
    if not directory.is_dir():
        return
    for size_dir in sorted(directory.iterdir(), key=lambda p: (len(p.name), p.name)):
        if not size_dir.name.isdigit() or not size_dir.is_dir():
            yield ArchivedObject(size_dir, -1, b"", "not a <size> directory")
            continue
        for path in sorted(size_dir.iterdir()):
            if path.name.startswith("."):
                continue  # a temporary file of a write in progress
            try:
                with path.open("rb") as f:
                    data = f.read(MAX_OBJECT + 1)
            except OSError as exc:
                yield ArchivedObject(path, int(size_dir.name), b"", f"unreadable: {exc.strerror}")
                continue
            problem = None
            if len(data) > MAX_OBJECT:
                problem = f"larger than {MAX_OBJECT} bytes"
            elif check_hash and hashlib.sha256(data).hexdigest() != path.name:
                problem = "its content does not hash to its name (changed after it was written)"
            yield ArchivedObject(path, int(size_dir.name), data, problem)


def cosigned(root: Path, origin: str) -> Iterator[ArchivedObject]:
    """Every archived cosigned checkpoint of ``origin``, by size."""
    return _objects(_origin_dir(root, "cosigned", origin), check_hash=True)


def evidence(root: Path, origin: str) -> Iterator[ArchivedObject]:
    """Every fork the witness archived evidence of, for ``origin``."""
    return _objects(_origin_dir(root, "evidence", origin), check_hash=False)


def evidence_notes(obj: ArchivedObject) -> tuple[bytes, bytes] | str:
    """The (witnessed, presented) notes of an evidence object, or why it does not hold them."""
    if obj.problem is not None:
        return obj.problem
    try:
        doc = json.loads(obj.data)
        witnessed, presented = doc["witnessed"], doc["presented"]
    except (ValueError, TypeError, KeyError):
        return "not an evidence document (JSON with 'witnessed' and 'presented')"
    if not isinstance(witnessed, str) or not isinstance(presented, str):
        return "its 'witnessed' and 'presented' are not notes"
    return witnessed.encode(), presented.encode()
