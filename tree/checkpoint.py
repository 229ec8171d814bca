"""Checkpoints, c2sp.org/tlog-checkpoint@v1.0.0 ("Note text", "Signatures").

A checkpoint is the text of a signed note::

    <origin>\\n                 non-empty
    <size>\\n                   ASCII decimal, no leading zeros ("0" for the empty tree)
    <base64 root hash>\\n       standard padded base64 of the 32-byte RFC 6962 root
    <extension line>\\n ...     optional, opaque, non-empty (NOT RECOMMENDED)

The origin is only required to be non-empty (the spec's "no spaces, no '+'" is a SHOULD, and
clients MUST NOT assume it), so ``go.sum database tree`` parses. The log's key name SHOULD equal
the origin but need not (sum.golang.org does not), so ``open_checkpoint`` does not demand it; a
caller that knows which log it expects passes ``origin=`` and gets a ``VerificationError`` for a
checkpoint of another log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from auditlog_tlog.tree.encoding import MAX_UINT64, decode_base64, encode_base64, parse_decimal
from auditlog_tlog.tree.errors import MalformedError, VerificationError
from auditlog_tlog.tree.hashing import HASH_SIZE
from auditlog_tlog.tree.keys import NoteVerifier
from auditlog_tlog.tree.note import MAX_NOTE_SIZE, OpenedNote, parse_note, verify_note

MAX_EXTENSION_LINES: Final = 64
# A control character (below U+0020, newline included): one regex scan. A test of each character
# in Python made a witness's parse of an add-checkpoint body 174 µs instead of 119 µs.
_CONTROL: Final = re.compile(r"[\x00-\x1f]")


def _line_problem(what: str, line: str) -> str | None:
    if not line:
        return f"{what}: got an empty line, want a non-empty one"
    if _CONTROL.search(line):
        return f"{what}: got a control character or newline in {line[:64]!r}"
    try:
        line.encode()
    except UnicodeEncodeError:
        return f"{what}: {line[:64]!r} is not valid Unicode"
    return None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: origin, tree size, 32-byte root hash, optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (problem := _line_problem("origin", self.origin)) is not None:
            raise ValueError(problem)
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_UINT64:
            raise ValueError(f"size: got {self.size!r}, want an integer in [0, 2^64-1]")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise ValueError(f"root: got {self.root!r:.80}, want {HASH_SIZE} bytes")
        if len(self.extensions) > MAX_EXTENSION_LINES:
            n = len(self.extensions)
            raise ValueError(f"got {n} extension lines, want at most {MAX_EXTENSION_LINES}")
        for line in self.extensions:
            if (problem := _line_problem("extension line", line)) is not None:
                raise ValueError(problem)

    def to_text(self) -> str:
        """The note text, final newline included."""
        lines = (self.origin, str(self.size), encode_base64(self.root), *self.extensions)
        return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint note text; anything but the canonical form is ``MalformedError``."""
    if len(text) > MAX_NOTE_SIZE:
        raise MalformedError(
            f"checkpoint: got {len(text)} characters, want at most {MAX_NOTE_SIZE}"
        )
    if not text.endswith("\n"):
        raise MalformedError("checkpoint: text must end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedError(f"checkpoint: got {len(lines)} lines, want at least 3")
    if len(lines) > 3 + MAX_EXTENSION_LINES:
        n = len(lines) - 3
        raise MalformedError(
            f"checkpoint: got {n} extension lines, want at most {MAX_EXTENSION_LINES}"
        )
    for i, line in enumerate(lines):
        if (problem := _line_problem(f"checkpoint line {i + 1}", line)) is not None:
            raise MalformedError(problem)
    size = parse_decimal(lines[1], "checkpoint size")
    root = decode_base64(lines[2], "checkpoint root", max_len=64)
    if len(root) != HASH_SIZE:
        raise MalformedError(f"checkpoint root: got {len(root)} bytes, want {HASH_SIZE}")
    return Checkpoint(lines[0], size, root, tuple(lines[3:]))


def open_checkpoint(
    data: bytes, verifiers: Sequence[NoteVerifier], *, origin: str | None = None
) -> tuple[Checkpoint, OpenedNote]:
    """Parse a signed checkpoint, then verify it with ``tree.note.verify_note``.

    Raises ``MalformedError`` (not a signed note, or its text is not a checkpoint) before any
    signature is checked, then ``VerificationError`` (see ``verify_note``, or another origin).
    """
    note = parse_note(data)
    checkpoint = parse_checkpoint(note.text)
    if origin is not None and checkpoint.origin != origin:
        raise VerificationError(f"checkpoint origin: got {checkpoint.origin!r}, want {origin!r}")
    return checkpoint, verify_note(note, verifiers)
