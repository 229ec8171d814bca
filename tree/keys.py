"""Note keys (c2sp.org/signed-note@v1.0.0 "Signatures"): key IDs, verifier and private key
strings, and the Ed25519 signer and verifier of signature type 0x01.

Verifier keys are ``<name>+<hex8 key ID>+base64(type || public key)``; private keys follow x/mod:
``PRIVATE+KEY+<name>+<hex8 key ID>+base64(0x01 || 32-byte seed)``. Types 0x01 (Ed25519, here) and
0x04 (cosignature/v1, ``tree.cosignature``) are understood; every other type is malformed.
``tree.vkeys.parse_vkey`` picks the verifier class of either type.
"""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar, Final, Protocol, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auditlog_tlog.tree.encoding import decode_base64, encode_base64
from auditlog_tlog.tree.errors import MalformedError

SIG_TYPE_ED25519: Final = 0x01
SIG_TYPE_COSIGNATURE_V1: Final = 0x04
KEY_ID_SIZE: Final = 4
_PRIVATE_PREFIX: Final = "PRIVATE+KEY+"
# The Unicode White_Space property (what Go's unicode.IsSpace reports); names must avoid these.
_SPACES: Final = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)
CONTROL: Final = re.compile("[\x00-\x09\x0b-\x1f]")
_HEX8: Final = re.compile("[0-9a-f]{8}")


def key_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid key name (non-empty, no Unicode spaces, no ``+``), or None."""
    if not name:
        return "got an empty key name"
    if "+" in name or CONTROL.search(name) or not _SPACES.isdisjoint(name):
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
