"""Offline inclusion receipts, c2sp.org/tlog-proof@v1 ("Format"; C2SP/C2SP tlog-proof.md at
0065ea5b)::

    "c2sp.org/tlog-proof@v1\\n"
    ["extra " <base64 opaque extra data> "\\n"]     optional, unauthenticated, never empty
    "index " <decimal leaf index> "\\n"             no leading zeros
    <base64 32-byte hash> "\\n"                      0..64 RFC 6962 inclusion proof lines,
                                                    leaf's sibling first, root's child last
    "\\n"
    <signed checkpoint note, verbatim>              log signature, often witness cosignatures

Parsing is syntactic and canonical-only: the checkpoint must be a well-formed signed note whose
text is a checkpoint, but neither its signatures, ``index < size`` nor the proof itself are
checked here. ``open_tlog_proof`` adds the signature check; the caller then verifies the
inclusion proof of its leaf hash against the returned checkpoint with the RFC 9162 verifier.
Files SHOULD use the extension ``.tlog-proof``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from auditlog_tlog.tree.checkpoint import Checkpoint, open_checkpoint
from auditlog_tlog.tree.encoding import MAX_UINT64, decode_base64, encode_base64, parse_decimal
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.hashing import HASH_SIZE
from auditlog_tlog.tree.keys import NoteVerifier
from auditlog_tlog.tree.note import MAX_NOTE_SIZE, OpenedNote
from auditlog_tlog.tree.verify import MAX_INCLUSION_HASHES
from auditlog_tlog.tree.witness_protocol import check_signed_checkpoint, parse_hash_lines, split_head

HEADER: Final = "c2sp.org/tlog-proof@v1"
MAX_EXTRA_SIZE: Final = 1 << 16  # decoded bytes of extra data (our cap; the spec sets none)
MAX_TLOG_PROOF_SIZE: Final = 64 + (MAX_EXTRA_SIZE * 4 // 3 + 4) + 65 * 45 + MAX_NOTE_SIZE


@dataclass(frozen=True, slots=True)
class TlogProof:
    """Leaf index, inclusion proof, signed checkpoint note bytes and optional extra data.

    ``extra == b""`` means "no extra line" (an empty extra line is not canonical).
    """

    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes = b""

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not 0 <= self.index <= MAX_UINT64:
            raise ValueError(f"index: got {self.index!r}, want an integer in [0, 2^64-1]")
        if len(self.proof) > MAX_INCLUSION_HASHES:
            n = len(self.proof)
            raise ValueError(f"proof: got {n} hashes, want at most {MAX_INCLUSION_HASHES}")
        if any(not isinstance(h, bytes) or len(h) != HASH_SIZE for h in self.proof):
            raise ValueError(f"proof: want {HASH_SIZE}-byte hashes")
        if not isinstance(self.extra, bytes) or len(self.extra) > MAX_EXTRA_SIZE:
            raise ValueError(f"extra: want at most {MAX_EXTRA_SIZE} bytes")
        try:
            check_signed_checkpoint(self.checkpoint, "checkpoint")
        except MalformedError as exc:
            raise ValueError(str(exc)) from exc


def parse_tlog_proof(data: bytes, max_size: int = MAX_TLOG_PROOF_SIZE) -> TlogProof:
    """Parse a tlog-proof, or raise ``MalformedError`` saying what was not canonical."""
    if len(data) > max_size:
        raise MalformedError(f"tlog-proof: got {len(data)} bytes, want at most {max_size}")
    lines, checkpoint = split_head(data, "tlog-proof")
    if lines[0] != HEADER:
        raise MalformedError(f"tlog-proof: got first line {lines[0][:32]!r}, want {HEADER!r}")
    pos, extra = 1, b""
    if len(lines) > pos and lines[pos].startswith("extra "):
        extra = decode_base64(lines[pos][6:], "tlog-proof extra", max_len=MAX_EXTRA_SIZE * 2)
        if not extra or len(extra) > MAX_EXTRA_SIZE:
            raise MalformedError(
                f"tlog-proof extra: got {len(extra)} bytes, want 1..{MAX_EXTRA_SIZE}"
            )
        pos += 1
    word, space, index = lines[pos].partition(" ") if len(lines) > pos else ("", "", "")
    if word != "index" or not space:
        got = lines[pos][:32] if len(lines) > pos else ""
        raise MalformedError(f"tlog-proof: got line {got!r}, want 'index <n>'")
    proof = parse_hash_lines(lines[pos + 1 :], "tlog-proof proof", MAX_INCLUSION_HASHES)
    check_signed_checkpoint(checkpoint, "tlog-proof checkpoint")
    return TlogProof(parse_decimal(index, "tlog-proof index"), proof, checkpoint, extra)


def format_tlog_proof(p: TlogProof) -> bytes:
    lines = [HEADER, *([f"extra {encode_base64(p.extra)}"] if p.extra else []), f"index {p.index}"]
    lines += map(encode_base64, p.proof)
    return "".join(f"{line}\n" for line in lines).encode() + b"\n" + p.checkpoint


def open_tlog_proof(
    data: bytes, verifiers: Sequence[NoteVerifier], *, origin: str | None = None
) -> tuple[TlogProof, Checkpoint, OpenedNote]:
    """Parse a tlog-proof and open its checkpoint (see ``tree.checkpoint.open_checkpoint``).

    The inclusion proof is not checked here: verify ``proof.proof`` for ``proof.index`` and the
    leaf hash against ``checkpoint.root`` and ``checkpoint.size``. The extra data is not
    authenticated.
    """
    proof = parse_tlog_proof(data)
    checkpoint, opened = open_checkpoint(proof.checkpoint, verifiers, origin=origin)
    return proof, checkpoint, opened
