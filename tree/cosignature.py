"""Ed25519 witness cosignatures, c2sp.org/tlog-cosignature@v1.0.1 ("Format", "Ed25519 signed
message"): signature type 0x04, "cosignature/v1".

A cosignature is a note signature line on a checkpoint::

    — <cosigner name> base64(key ID (4) || timestamp (8, big-endian) || Ed25519 signature (64))

with key ID = SHA-256(name || "\\n" || 0x04 || 32-byte public key)[:4], over the message::

    "cosignature/v1\\n" "time " <decimal timestamp> "\\n" <whole checkpoint note text>

Timestamps are POSIX seconds passed in by the caller (tree/ never reads the clock) and at most
2^63-1. The ML-DSA-44 "subtree/v1" type 0x06 of v1.1 is not implemented.

Private keys use the x/mod skey format of logs, ``PRIVATE+KEY+<name>+<hex8>+base64(0x01||seed)``,
and the key ID written in it is the type 0x01 one (so any x/mod tool can load the file); the
cosigner's type 0x04 key ID is derived from the seed. The vkey is a type 0x04 vkey.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.keys import KEY_ID_SIZE, SIG_TYPE_COSIGNATURE_V1, Ed25519SignerBase, Ed25519Verifier
from auditlog_tlog.tree.note import Signature

MAX_TIMESTAMP: Final = (1 << 63) - 1
TIMESTAMPED_SIGNATURE_SIZE: Final = 8 + 64
COSIGNATURE_SIZE: Final = KEY_ID_SIZE + TIMESTAMPED_SIGNATURE_SIZE  # 76 bytes, 104 base64 chars
_HEADER: Final = b"cosignature/v1\ntime "


def _message(text: bytes, timestamp: int) -> bytes:
    return _HEADER + str(timestamp).encode() + b"\n" + text


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The exact bytes a cosigner signs for ``checkpoint_text`` (final newline included)."""
    if isinstance(timestamp, bool) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"timestamp: got {timestamp!r}, want an integer in [0, 2^63-1]")
    if not checkpoint_text.endswith("\n"):
        raise ValueError("checkpoint text must end in a newline")
    return _message(checkpoint_text.encode(), timestamp)


@dataclass(frozen=True, slots=True)
class Cosignature:
    """The decoded bytes of a cosignature line: key ID, timestamp, Ed25519 signature."""

    key_id: bytes
    timestamp: int
    signature: bytes

    def __post_init__(self) -> None:
        if len(self.key_id) != KEY_ID_SIZE or len(self.signature) != 64:
            raise ValueError("want a 4-byte key ID and a 64-byte signature")
        if isinstance(self.timestamp, bool) or not 0 <= self.timestamp <= MAX_TIMESTAMP:
            raise ValueError(f"timestamp: got {self.timestamp!r}, want an integer in [0, 2^63-1]")

    def to_bytes(self) -> bytes:
        return self.key_id + self.timestamp.to_bytes(8, "big") + self.signature


def decode_cosignature(data: bytes) -> Cosignature:
    """Split ``key ID || timestamp || signature`` (76 bytes), or raise ``MalformedError``."""
    if len(data) != COSIGNATURE_SIZE:
        raise MalformedError(f"cosignature: got {len(data)} bytes, want {COSIGNATURE_SIZE}")
    timestamp = int.from_bytes(data[KEY_ID_SIZE : KEY_ID_SIZE + 8], "big")
    if timestamp > MAX_TIMESTAMP:
        raise MalformedError(f"cosignature timestamp: got {timestamp}, want at most 2^63-1")
    return Cosignature(data[:KEY_ID_SIZE], timestamp, data[KEY_ID_SIZE + 8 :])


class CosignatureVerifier(Ed25519Verifier):
    """A ``NoteVerifier`` for type 0x04: rebuilds the message from the signature's timestamp."""

    __slots__ = ()
    SIG_TYPE: ClassVar[int] = SIG_TYPE_COSIGNATURE_V1

    def timestamp_of(self, signature: bytes) -> int:
        """The timestamp of a 72-byte timestamped signature (key ID already stripped)."""
        if len(signature) != TIMESTAMPED_SIGNATURE_SIZE:
            n = len(signature)
            raise MalformedError(f"cosignature: got {n} bytes, want {TIMESTAMPED_SIGNATURE_SIZE}")
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            raise MalformedError(f"cosignature timestamp: got {timestamp}, want at most 2^63-1")
        return timestamp

    def verify(self, message: bytes, signature: bytes) -> bool:
        """``message`` is the checkpoint note text, as for any note verifier."""
        try:
            timestamp = self.timestamp_of(signature)
        except MalformedError:
            return False
        return self._verify(_message(message, timestamp), signature[8:])


class CosignatureSigner(Ed25519SignerBase):
    """A witness key: cosigns checkpoint texts at a timestamp the caller supplies.

    Deliberately not a ``NoteSigner``: it has no ``sign(message)``.
    """

    __slots__ = ()
    SIG_TYPE: ClassVar[int] = SIG_TYPE_COSIGNATURE_V1

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self._name, self._public_key)

    def cosign(self, checkpoint_text: str, timestamp: int) -> Signature:
        """Cosign a checkpoint text (``MalformedError`` if it is not one): a 72-byte signature."""
        parse_checkpoint(checkpoint_text)
        message = cosignature_message(checkpoint_text, timestamp)
        signature = timestamp.to_bytes(8, "big") + self._key.sign(message)
        return Signature(self._name, self._key_id, signature)

    def cosignature_line(self, checkpoint_text: str, timestamp: int) -> bytes:
        """``— <name> base64(key ID || timestamp || signature)\\n`` as UTF-8 bytes."""
        return self.cosign(checkpoint_text, timestamp).line().encode()
