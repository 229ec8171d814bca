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
behaviour): it is a ``ValueError`` when a line needs that key. Unlike x/mod, a repeated line of a
known key is verified again rather than skipped (identical lines verify alike).

Verifier keys are ``<name>+<hex8 key ID>+base64(type || public key)``; private keys follow x/mod:
``PRIVATE+KEY+<name>+<hex8 key ID>+base64(0x01 || 32-byte seed)``. Types 0x01 (Ed25519, here) and
0x04 (cosignature/v1, ``tree.cosignature``) are understood; every other type is malformed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, Protocol, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tree.errors import MalformedError, VerificationError

MAX_NOTE_SIZE: Final = 1 << 20  # bytes; C2SP asks for at least 16 signatures of up to ~5 kB each
MAX_SIGNATURES: Final = 100  # signature lines per note, as x/mod
SIG_TYPE_ED25519: Final = 0x01
SIG_TYPE_COSIGNATURE_V1: Final = 0x04
KEY_ID_SIZE: Final = 4
MAX_UINT64: Final = (1 << 64) - 1
_SIG_PREFIX: Final = "— "  # U+2014 EM DASH, U+0020 SPACE
_PRIVATE_PREFIX: Final = "PRIVATE+KEY+"
# The Unicode White_Space property (what Go's unicode.IsSpace reports); names must avoid these.
_SPACES: Final = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)
_CONTROL: Final = re.compile("[\x00-\x09\x0b-\x1f]")
_DECIMAL: Final = re.compile("0|[1-9][0-9]{0,19}")
_HEX8: Final = re.compile("[0-9a-f]{8}")


def decode_base64(text: str, what: str, max_len: int = MAX_NOTE_SIZE) -> bytes:
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


def key_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid key name (non-empty, no Unicode spaces, no ``+``), or None."""
    if not name:
        return "got an empty key name"
    if "+" in name or _CONTROL.search(name) or not _SPACES.isdisjoint(name):
        return f"key name {name[:64]!r} has a space, '+' or control character"
    try:
        name.encode()
    except UnicodeEncodeError:
        return f"key name {name[:64]!r} is not valid Unicode"
    return None


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4], the RECOMMENDED key ID."""
    if not 0 <= sig_type <= 255:
        raise ValueError(f"signature type: got {sig_type}, want 0..255")
    h = hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key)
    return h.digest()[:KEY_ID_SIZE]


def _text_problem(text: str) -> str | None:
    if not text.endswith("\n"):
        return "note text must be non-empty and end in a newline"
    if m := _CONTROL.search(text):
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
    if m := _CONTROL.search(text):
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


class NoteSigner(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class NoteVerifier(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, message: bytes, signature: bytes) -> bool: ...


def _split_key(text: str, what: str) -> tuple[str, bytes, bytes]:
    """``name+hex8+base64`` -> (name, 4-byte key ID, decoded key), checking each part's syntax."""
    name, _, rest = text.partition("+")
    hex8, _, b64 = rest.partition("+")
    if (problem := key_name_problem(name)) is not None:
        raise MalformedError(f"{what}: {problem}")
    if not _HEX8.fullmatch(hex8):
        raise MalformedError(f"{what}: got key ID {hex8[:16]!r}, want 8 lowercase hex digits")
    key = decode_base64(b64, f"{what} key", max_len=4096)
    if len(key) != 33:
        raise MalformedError(f"{what}: got {len(key)} key bytes, want type byte and 32 bytes")
    return name, bytes.fromhex(hex8), key


def split_vkey(vkey: str) -> tuple[str, int, bytes]:
    """``name+hex8+base64(type || 32-byte key)`` -> (name, type, key), key ID checked."""
    name, kid, key = _split_key(vkey, "vkey")
    if (want := key_id(name, key[0], key[1:])) != kid:
        raise MalformedError(f"vkey: got key ID {kid.hex()}, want {want.hex()}")
    return name, key[0], key[1:]


def format_vkey(name: str, sig_type: int, public_key: bytes) -> str:
    kid = key_id(name, sig_type, public_key).hex()
    return f"{name}+{kid}+{encode_base64(bytes([sig_type]) + public_key)}"


def parse_skey(skey: str) -> tuple[str, bytes]:
    """x/mod's ``PRIVATE+KEY+name+hex8+base64(0x01 || seed)`` -> (name, 32-byte seed).

    The key ID in the string is the type 0x01 one, also for a cosigner's key.
    """
    if not skey.startswith(_PRIVATE_PREFIX):
        raise MalformedError("skey: want the prefix 'PRIVATE+KEY+'")
    name, kid, key = _split_key(skey[len(_PRIVATE_PREFIX) :], "skey")
    public = Ed25519PrivateKey.from_private_bytes(key[1:]).public_key().public_bytes_raw()
    if key[0] != SIG_TYPE_ED25519 or key_id(name, key[0], public) != kid:
        raise MalformedError("skey: want type 0x01 and the key ID of name and public key")
    return name, key[1:]


class Ed25519KeyBase:
    """Name, public key and key ID of an Ed25519 key used as signature type ``SIG_TYPE``.

    Shared by the type 0x01 classes here and the type 0x04 ones of ``tree.cosignature``.
    """

    __slots__ = ("_key_id", "_name", "_public_key")
    SIG_TYPE: ClassVar[int] = SIG_TYPE_ED25519

    def __init__(self, name: str, public_key: bytes) -> None:
        if (problem := key_name_problem(name)) is not None:
            raise ValueError(problem)
        if len(public_key) != 32:
            raise ValueError(f"public key: got {len(public_key)} bytes, want 32")
        self._name, self._public_key = name, bytes(public_key)
        self._key_id = key_id(name, self.SIG_TYPE, public_key)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._key_id

    @property
    def public_key(self) -> bytes:
        return self._public_key

    def vkey(self) -> str:
        return format_vkey(self._name, self.SIG_TYPE, self._public_key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey()!r})"


class Ed25519Verifier(Ed25519KeyBase):
    """Verifies type 0x01 Ed25519 note signatures (RFC 8032 over the note text)."""

    __slots__ = ("_key",)

    def __init__(self, name: str, public_key: bytes) -> None:
        super().__init__(name, public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> Self:
        name, sig_type, key = split_vkey(vkey)
        if sig_type != cls.SIG_TYPE:
            raise MalformedError(f"vkey: got type {sig_type:#04x}, want {cls.SIG_TYPE:#04x}")
        return cls(name, key)

    def _verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def verify(self, message: bytes, signature: bytes) -> bool:
        return len(signature) == 64 and self._verify(message, signature)


class Ed25519SignerBase(Ed25519KeyBase):
    """An Ed25519 private key (its seed) with name; ``repr`` never shows the seed."""

    __slots__ = ("_key", "_seed")

    def __init__(self, name: str, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError(f"seed: got {len(seed)} bytes, want 32")
        self._seed, self._key = bytes(seed), Ed25519PrivateKey.from_private_bytes(seed)
        super().__init__(name, self._key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls, name: str) -> Self:
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_skey(cls, skey: str) -> Self:
        return cls(*parse_skey(skey))

    def skey(self) -> str:
        kid = key_id(self._name, SIG_TYPE_ED25519, self._public_key).hex()
        key = encode_base64(bytes([SIG_TYPE_ED25519]) + self._seed)
        return f"{_PRIVATE_PREFIX}{self._name}+{kid}+{key}"


class Ed25519Signer(Ed25519SignerBase):
    """Signs notes with type 0x01 Ed25519; a ``NoteSigner``."""

    __slots__ = ()

    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self._name, self._public_key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def parse_vkey(vkey: str) -> NoteVerifier:
    """A verifier for a type 0x01 (Ed25519) or 0x04 (cosignature/v1) vkey; else MalformedError."""
    from tree.cosignature import CosignatureVerifier  # a cycle: cosignature imports note

    name, sig_type, key = split_vkey(vkey)
    if sig_type == SIG_TYPE_ED25519:
        return Ed25519Verifier(name, key)
    if sig_type == SIG_TYPE_COSIGNATURE_V1:
        return CosignatureVerifier(name, key)
    raise MalformedError(f"vkey: got type {sig_type:#04x}, want 0x01 or 0x04")


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
    for sig in note.signatures:
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
