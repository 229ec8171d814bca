"""Signed notes, c2sp.org/signed-note@v1.0.0 ("Format", "Signatures", "Ed25519 signatures").

::

    <text: one or more lines, each ending in "\\n">
    "\\n"
    "— " <key name> " " base64(key ID (4 bytes, big-endian) || signature) "\\n"   (one or more)

Parsing is canonical-only: standard padded base64 that re-encodes to itself, valid UTF-8 with no
control characters but ``\\n``, key names without Unicode spaces or ``+``. Verification follows
the spec and golang.org/x/mod/sumdb/note: lines whose (name, key ID) match no trusted key are
ignored; every line that matches one is verified and one failure rejects the note; a note with no
verified line is rejected. A trusted list holding one (name, key ID) twice is ambiguous (x/mod
behaviour): it is a ``ValueError`` when a line needs that key. Unlike x/mod, a line of a known
key that repeats the key with another signature is verified too (one failure still rejects); an
exact repeat of a line is verified once (identical lines verify alike), so a note of 100 copies of
one line costs one check, not 100.

Keys (verifier and private key strings, the Ed25519 signer and verifier) are in ``tree.keys``;
``tree.vkeys.parse_vkey`` reads a verifier key of any type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from auditlog_tlog.tree.encoding import decode_base64, encode_base64
from auditlog_tlog.tree.errors import MalformedError, VerificationError
from auditlog_tlog.tree.keys import CONTROL, KEY_ID_SIZE, NoteSigner, NoteVerifier, key_name_problem

MAX_NOTE_SIZE: Final = 1 << 20  # bytes; C2SP asks for at least 16 signatures of up to ~5 kB each
MAX_SIGNATURES: Final = 100  # signature lines per note, as x/mod
_SIG_PREFIX: Final = "— "  # U+2014 EM DASH, U+0020 SPACE


def _text_problem(text: str) -> str | None:
    if not text.endswith("\n"):
        return "note text must be non-empty and end in a newline"
    if m := CONTROL.search(text):
        return f"got control character {m.group()!r} in the note text, want none but newline"
    try:
        text.encode()
    except UnicodeEncodeError:
        return "note text is not valid Unicode"
    return None


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line: key name, 4-byte key ID, and the algorithm's signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        if (problem := key_name_problem(self.name)) is not None:
            raise ValueError(problem)
        if len(self.key_id) != KEY_ID_SIZE:
            raise ValueError(f"key ID: got {len(self.key_id)} bytes, want {KEY_ID_SIZE}")
        if not self.signature:
            raise ValueError("signature: got 0 bytes, want at least 1")

    def line(self) -> str:
        """``— <name> base64(key ID || signature)\\n``."""
        return f"{_SIG_PREFIX}{self.name} {encode_base64(self.key_id + self.signature)}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A note text (ending in a newline) and its signature lines, in order."""

    text: str
    signatures: tuple[Signature, ...]

    def __post_init__(self) -> None:
        if (problem := _text_problem(self.text)) is not None:
            raise ValueError(problem)
        if not 1 <= len(self.signatures) <= MAX_SIGNATURES:
            n = len(self.signatures)
            raise ValueError(f"got {n} signatures, want 1..{MAX_SIGNATURES}")


def _parse_signature_line(line: str) -> Signature:
    if not line.startswith(_SIG_PREFIX):
        raise MalformedError(f"got line {line[:64]!r}, want '— <name> <base64 signature>'")
    name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    if (problem := key_name_problem(name)) is not None:
        raise MalformedError(problem)
    raw = decode_base64(b64, f"signature of {name[:64]!r}")
    if len(raw) <= KEY_ID_SIZE:
        raise MalformedError(f"signature of {name[:64]!r}: got {len(raw)} bytes, want at least 5")
    return Signature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def _parse_signature_block(block: str) -> tuple[Signature, ...]:
    if not block.endswith("\n"):
        raise MalformedError("signature lines must be present and each end in a newline")
    if (n := block.count("\n")) > MAX_SIGNATURES:
        raise MalformedError(f"got {n} signature lines, want at most {MAX_SIGNATURES}")
    return tuple(_parse_signature_line(line) for line in block[:-1].split("\n"))


def _decode_utf8(data: bytes, max_size: int, what: str) -> str:
    if len(data) > max_size:
        raise MalformedError(f"{what}: got {len(data)} bytes, want at most {max_size}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedError(f"{what}: invalid UTF-8 at byte {exc.start}") from None
    if m := CONTROL.search(text):
        raise MalformedError(f"{what}: got control character {m.group()!r}, want none but newline")
    return text


def parse_note(data: bytes, max_size: int = MAX_NOTE_SIZE) -> Note:
    """Split a signed note at its last blank line and parse its signature lines."""
    msg = _decode_utf8(data, max_size, "note")
    split = msg.rfind("\n\n")
    if split < 0:
        raise MalformedError("note has no blank line between text and signatures")
    return Note(msg[: split + 1], _parse_signature_block(msg[split + 2 :]))


def parse_signature_lines(data: bytes, max_size: int = MAX_NOTE_SIZE) -> tuple[Signature, ...]:
    """Parse one or more ``— name base64\\n`` lines, e.g. a tlog-witness response body."""
    return _parse_signature_block(_decode_utf8(data, max_size, "signature lines"))


def format_note(note: Note) -> bytes:
    return (note.text + "\n" + "".join(s.line() for s in note.signatures)).encode()


def add_signatures(note: bytes, signature_lines: bytes, max_size: int = MAX_NOTE_SIZE) -> bytes:
    """Append validated signature lines to a signed note (no verification, no de-duplication)."""
    parsed = parse_note(note, max_size)
    extra = parse_signature_lines(signature_lines, max_size)
    if (n := len(parsed.signatures) + len(extra)) > MAX_SIGNATURES:
        raise MalformedError(f"got {n} signature lines, want at most {MAX_SIGNATURES}")
    out = format_note(Note(parsed.text, parsed.signatures + extra))
    if len(out) > max_size:
        raise MalformedError(f"note: got {len(out)} bytes, want at most {max_size}")
    return out


def sign_note(text: str, signers: Sequence[NoteSigner]) -> bytes:
    """Sign ``text`` (which must end in a newline) with every signer, in order."""
    if (problem := _text_problem(text)) is not None:
        raise MalformedError(problem)
    if not signers:
        raise ValueError("got no signers, want at least one")
    message = text.encode()
    return format_note(
        Note(text, tuple(Signature(s.name, s.key_id, s.sign(message)) for s in signers))
    )


@dataclass(frozen=True, slots=True)
class OpenedNote:
    """A note whose signatures checked out.

    ``verified``: each trusted verifier with a valid line, in order of first appearance;
    ``unverified``: lines that matched no trusted key, identical repeats listed once.
    """

    note: Note
    verified: tuple[NoteVerifier, ...]
    unverified: tuple[Signature, ...] = ()

    def __post_init__(self) -> None:
        if not self.verified:
            raise ValueError("an opened note needs at least one verified signature")


def verify_note(note: Note, verifiers: Sequence[NoteVerifier]) -> OpenedNote:
    """Apply the verifier rules of the module docstring to a parsed note."""
    known: dict[tuple[str, bytes], list[NoteVerifier]] = {}
    for v in verifiers:
        known.setdefault((v.name, bytes(v.key_id)), []).append(v)
    message = note.text.encode()
    verified: list[NoteVerifier] = []
    unverified: list[Signature] = []
    for sig in dict.fromkeys(note.signatures):  # an exact repeat verifies alike: once
        matches = known.get((sig.name, sig.key_id), [])
        label = f"{sig.name}+{sig.key_id.hex()}"
        if not matches:
            unverified += [] if sig in unverified else [sig]
        elif len(matches) > 1:
            raise ValueError(f"ambiguous key {label}: {len(matches)} trusted verifiers have it")
        elif not matches[0].verify(message, sig.signature):
            raise VerificationError(f"invalid signature for key {label}")
        elif not any(v is matches[0] for v in verified):
            verified.append(matches[0])
    if not verified:
        n = len(note.signatures)
        raise VerificationError(f"no verifiable signature: none of {n} lines is by a trusted key")
    return OpenedNote(note, tuple(verified), tuple(unverified))


def open_note(data: bytes, verifiers: Sequence[NoteVerifier]) -> OpenedNote:
    """Parse (MalformedError) then verify (VerificationError) a signed note."""
    return verify_note(parse_note(data), verifiers)
