"""The file-digest record: how a file too big to be an entry is logged (``append --hash-only``)
and checked later (``verify --file``). docs/retention.md specifies it for other languages.

The entry is canonical JSON, one line, keys sorted, no whitespace, UTF-8 (the rules of
``client.event``)::

    {"kind":"file-digest","media_type":"application/pdf","name":"report.pdf",
     "sha256":"<64 lowercase hex digits>","size":1048576,"v":1}

(wrapped here). ``sha256`` is the SHA-256 of the file's bytes and ``size`` their count, an
integer in ``0..2^53-1``; ``name`` is the file's base name (1 to 255 characters, no ``/``, no
control character) and ``media_type`` an RFC 6838 ``type/subtype`` (``application/octet-stream``
when unknown). The log holds the record, never the file: keep the file (and its receipt); the
receipt proves the record is in the log, and :func:`check_file` proves the file is the one the
record names. Reading is streamed, so a file of any size costs a bounded amount of memory.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from auditlog_tlog.tree.errors import MalformedError, VerificationError

KIND: Final = "file-digest"
VERSION: Final = 1
MAX_SIZE: Final = (1 << 53) - 1
MAX_RECORD_BYTES: Final = 1024
CHUNK: Final = 1 << 20
_FIELDS: Final = frozenset(("v", "kind", "sha256", "size", "name", "media_type"))
_HEX: Final = re.compile(r"[0-9a-f]{64}")
_MEDIA: Final = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
DEFAULT_MEDIA_TYPE: Final = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class FileDigest:
    """What the log keeps of a file: its SHA-256, size, base name and media type."""

    sha256: bytes
    size: int
    name: str
    media_type: str = DEFAULT_MEDIA_TYPE

    def __post_init__(self) -> None:
        if not isinstance(self.sha256, bytes) or len(self.sha256) != 32:
            raise ValueError(f"sha256: got {self.sha256!r:.80}, want 32 bytes")
        if isinstance(self.size, bool) or not isinstance(self.size, int) \
                or not 0 <= self.size <= MAX_SIZE:
            raise ValueError(f"size: got {self.size!r}, want an integer in 0..2^53-1")
        if not isinstance(self.name, str) or not 1 <= len(self.name) <= 255 or "/" in self.name \
                or any(ord(c) < 0x20 or ord(c) == 0x7F for c in self.name) \
                or self.name in (".", ".."):
            raise ValueError(f"name: got {self.name!r:.80}, want a base name of 1..255 characters "
                             "without '/' or control characters")
        if not isinstance(self.media_type, str) or not _MEDIA.fullmatch(self.media_type):
            raise ValueError(f"media_type: got {self.media_type!r:.80}, want type/subtype in "
                             "lowercase (RFC 6838)")

    def to_json(self) -> dict[str, Any]:
        return {"v": VERSION, "kind": KIND, "sha256": self.sha256.hex(), "size": self.size,
                "name": self.name, "media_type": self.media_type}

    def encode(self) -> bytes:
        """The one canonical encoding: this is the log entry."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode()


def digest_file(path: Path, media_type: str | None = None) -> FileDigest:
    """The record of the file at ``path``, read in chunks of ``CHUNK`` bytes; the media type is
    guessed from the name when not given."""
    sha, size = _hash(path)
    if media_type is None:
        media_type = (mimetypes.guess_type(path.name)[0] or DEFAULT_MEDIA_TYPE).lower()
    return FileDigest(sha, size, path.name, media_type)


def _hash(path: Path) -> tuple[bytes, int]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.digest(), size


def parse_file_digest(data: bytes) -> FileDigest:
    """Parse a record; anything but the canonical encoding is ``MalformedError``."""
    if len(data) > MAX_RECORD_BYTES:
        raise MalformedError(f"file digest: got {len(data)} bytes, want at most {MAX_RECORD_BYTES}")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedError(f"file digest: not UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict) or set(obj) != _FIELDS:
        raise MalformedError(f"file digest: want a JSON object with exactly the fields "
                             f"{sorted(_FIELDS)}")
    if obj["v"] != VERSION or obj["kind"] != KIND:
        raise MalformedError(f"file digest: got v={obj['v']!r} kind={obj['kind']!r}, want "
                             f"v={VERSION} kind={KIND!r}")
    if not isinstance(obj["sha256"], str) or not _HEX.fullmatch(obj["sha256"]):
        raise MalformedError("file digest: sha256 must be 64 lowercase hex digits")
    try:
        record = FileDigest(bytes.fromhex(obj["sha256"]), obj["size"], obj["name"],
                            obj["media_type"])
    except ValueError as exc:
        raise MalformedError(f"file digest: {exc}") from None
    if record.encode() != data:
        raise MalformedError("file digest: valid JSON but not the canonical encoding")
    return record


def is_file_digest(entry: bytes) -> bool:
    """Whether ``entry`` is a file-digest record (cheap test before :func:`parse_file_digest`)."""
    if len(entry) > MAX_RECORD_BYTES or b'"kind":"file-digest"' not in entry:
        return False
    try:
        parse_file_digest(entry)
    except MalformedError:
        return False
    return True


def check_file(record: FileDigest, path: Path) -> None:
    """Raise ``VerificationError`` unless the file at ``path`` has the record's size and SHA-256
    (its name and media type are labels, not checked)."""
    sha, size = _hash(path)
    if size != record.size:
        raise VerificationError(f"{path}: got {size} bytes, want {record.size} (the size logged "
                                f"for {record.name})")
    if sha != record.sha256:
        raise VerificationError(f"{path}: got SHA-256 {sha.hex()}, want {record.sha256.hex()} "
                                f"(the digest logged for {record.name})")
