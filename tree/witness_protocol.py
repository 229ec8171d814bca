"""Bodies of the witness protocol, c2sp.org/tlog-witness@v1.0.0 ("add-checkpoint").

Request body of ``POST <submission prefix>/add-checkpoint``::

    "old " <decimal old size> "\\n"          no leading zeros; "0" allowed
    <base64 32-byte hash> "\\n"              0..63 consistency proof lines, in proof order
    "\\n"
    <signed checkpoint note>                 text, blank line, signature lines

The proof section ends at the **first** empty line (the note holds a blank line of its own). The
parser checks syntax only and raises ``MalformedError`` (HTTP 400); the witness itself checks the
origin (404), signatures (403), old size against the checkpoint size (400) and its own state (409),
and the proof (422). A 409 answer's body (``text/x.tlog.size``) is ``<latest size>\\n``. A 200
answer's body is one or more cosignature lines: ``tree.note.parse_signature_lines`` reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.encoding import MAX_UINT64, decode_base64, encode_base64, parse_decimal
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.hashing import HASH_SIZE
from auditlog_tlog.tree.note import MAX_NOTE_SIZE, parse_note

MAX_PROOF_LINES: Final = 63
_HASH_LINE: Final = 45  # 44 base64 characters and a newline
MAX_BODY_SIZE: Final = 32 + (MAX_PROOF_LINES * _HASH_LINE) + 1 + MAX_NOTE_SIZE
MAX_SIZE_BODY: Final = 21  # 20 digits of 2^64-1 and a newline


def parse_hash_lines(lines: Sequence[str], what: str, max_lines: int) -> tuple[bytes, ...]:
    """Decode lines that each hold one base64 32-byte hash (shared with tree.tlogproof)."""
    if len(lines) > max_lines:
        raise MalformedError(f"{what}: got {len(lines)} hash lines, want at most {max_lines}")
    hashes = tuple(decode_base64(line, what, max_len=64) for line in lines)
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise MalformedError(f"{what}: got a {len(h)}-byte hash, want {HASH_SIZE}")
    return hashes


def split_head(body: bytes, what: str) -> tuple[list[str], bytes]:
    """Split ``<ASCII lines>\\n\\n<rest>`` at the first empty line (shared with tree.tlogproof)."""
    end = body.find(b"\n\n")
    if end < 0:
        raise MalformedError(f"{what}: got no empty line before the checkpoint")
    try:
        head = body[:end].decode("ascii")
    except UnicodeDecodeError:
        raise MalformedError(f"{what}: got non-ASCII bytes before the checkpoint") from None
    return head.split("\n"), body[end + 2 :]


def check_signed_checkpoint(note: bytes, what: str) -> None:
    """``MalformedError`` unless ``note`` is a well-formed signed note holding a checkpoint."""
    if not isinstance(note, bytes):
        raise ValueError(f"{what}: got {type(note).__name__}, want bytes")
    parse_checkpoint(parse_note(note).text)


@dataclass(frozen=True, slots=True)
class AddCheckpointRequest:
    """An add-checkpoint body: old size, consistency proof, signed checkpoint note bytes."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes

    def __post_init__(self) -> None:
        if isinstance(self.old_size, bool) or not 0 <= self.old_size <= MAX_UINT64:
            raise ValueError(f"old size: got {self.old_size!r}, want an integer in [0, 2^64-1]")
        if len(self.proof) > MAX_PROOF_LINES:
            n = len(self.proof)
            raise ValueError(f"proof: got {n} hashes, want at most {MAX_PROOF_LINES}")
        if any(not isinstance(h, bytes) or len(h) != HASH_SIZE for h in self.proof):
            raise ValueError(f"proof: want {HASH_SIZE}-byte hashes")
        try:
            check_signed_checkpoint(self.checkpoint, "checkpoint")
        except MalformedError as exc:
            raise ValueError(str(exc)) from exc


def split_add_checkpoint(body: bytes,
                         max_size: int = MAX_BODY_SIZE) -> tuple[int, tuple[bytes, ...], bytes]:
    """An add-checkpoint request body's old size, proof and signed checkpoint (not checked
    here), or ``MalformedError`` (HTTP 400) for a body too large or a malformed head."""
    if len(body) > max_size:
        raise MalformedError(f"add-checkpoint: got {len(body)} bytes, want at most {max_size}")
    lines, checkpoint = split_head(body, "add-checkpoint")
    old, space, size = lines[0].partition(" ")
    if old != "old" or not space:
        raise MalformedError(f"add-checkpoint: got first line {lines[0][:32]!r}, want 'old <size>'")
    old_size = parse_decimal(size, "add-checkpoint old size")
    proof = parse_hash_lines(lines[1:], "add-checkpoint proof", MAX_PROOF_LINES)
    return old_size, proof, checkpoint


def parse_add_checkpoint(body: bytes, max_size: int = MAX_BODY_SIZE) -> AddCheckpointRequest:
    """Parse an add-checkpoint request body, or raise ``MalformedError`` (HTTP 400)."""
    old_size, proof, checkpoint = split_add_checkpoint(body, max_size)
    check_signed_checkpoint(checkpoint, "add-checkpoint checkpoint")
    return AddCheckpointRequest(old_size, proof, checkpoint)


def format_add_checkpoint(req: AddCheckpointRequest) -> bytes:
    head = "".join(f"{line}\n" for line in (f"old {req.old_size}", *map(encode_base64, req.proof)))
    return head.encode() + b"\n" + req.checkpoint


def parse_size_body(body: bytes) -> int:
    """Parse a 409 ``text/x.tlog.size`` body, ``<decimal size>\\n``."""
    if len(body) > MAX_SIZE_BODY or not body.endswith(b"\n"):
        raise MalformedError(f"size body: got {body[:32]!r}, want '<decimal size>\\n'")
    try:
        text = body[:-1].decode("ascii")
    except UnicodeDecodeError:
        raise MalformedError(f"size body: got {body[:32]!r}, want ASCII") from None
    return parse_decimal(text, "size body")


def format_size_body(size: int) -> bytes:
    if isinstance(size, bool) or not 0 <= size <= MAX_UINT64:
        raise ValueError(f"size: got {size!r}, want an integer in [0, 2^64-1]")
    return f"{size}\n".encode()
