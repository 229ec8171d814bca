"""Addenda: personal fields kept beside an entry, committed in it by salted digest
(c2sp.org/tlog-addenda; docs/erasure.md).

An addendum is opaque bytes whose digest, SHA-256 of those bytes, is committed in an entry.
Proving inclusion or consistency never needs the addendum, so erasing it (no longer keeping or
serving it) leaves the entry, its leaf hash and every proof unchanged. Ours are one field each,
canonical JSON with sorted keys and no whitespace::

    {"field":"email","nonce":"<32 or more lowercase hex digits>","value":"alice@example.com"}

``nonce`` is at least 16 random bytes (the specification's blinding): a personal value is
usually guessable, and without the nonce anyone holding the entry could confirm a guess against
the digest after the addendum is gone. ``value`` is a string, a boolean or an integer within
+-(2^53 - 1), as attribute values are.

An entry commits its addenda in a top-level JSON member ``"addenda"``, an object from field
name to the lowercase hex digest::

    {...,"addenda":{"email":"5d41402abc4b2a76b9719d911017c592...."},...}

:func:`committed` reads that member from any JSON entry (an ``AuditEvent`` of version 2, an
ingested record's entry), so the server checks what an entry commits without knowing its
encoding. A store serves addendum ``D`` at ``addenda/<D[0:2]>/<D[2:4]>/<D>`` (:func:`path`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Final

from auditlog_tlog.tree.errors import MalformedError, VerificationError

DIGEST_SIZE: Final = 32
NONCE_SIZE: Final = 16  # the minimum, and what producers of this project draw
MAX_ADDENDUM_BYTES: Final = 1024
MAX_ADDENDA: Final = 16  # per entry
MAX_INT: Final = (1 << 53) - 1
FIELD: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_HEX_DIGEST: Final = re.compile(r"[0-9a-f]{64}")
_HEX_NONCE: Final = re.compile(r"(?:[0-9a-f]{2}){16,64}")

Value = str | int | bool


def digest(addendum: bytes) -> bytes:
    """SHA-256 of the addendum's bytes: what an entry commits."""
    return hashlib.sha256(addendum).digest()


def path(addendum_digest: bytes) -> str:
    """Where a store serves an addendum: ``addenda/<s0>/<s1>/<hex digest>``."""
    if len(addendum_digest) != DIGEST_SIZE:
        raise ValueError(f"digest of {len(addendum_digest)} bytes, want {DIGEST_SIZE}")
    text = addendum_digest.hex()
    return f"addenda/{text[0:2]}/{text[2:4]}/{text}"


def parse_digest(text: str) -> bytes:
    """A digest given as 64 lowercase hex digits; MalformedError for anything else."""
    if not isinstance(text, str) or not _HEX_DIGEST.fullmatch(text):
        raise MalformedError(f"addendum digest: got {str(text)[:80]!r}, want 64 lowercase hex digits")
    return bytes.fromhex(text)


def check_value(name: str, value: object) -> None:
    """Raise ValueError unless ``value`` is a string, a bool or an integer within +-(2^53 - 1)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -MAX_INT <= value <= MAX_INT:
            raise ValueError(f"{name}: got {value}, want an integer within +-(2^53 - 1)")
        return
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError(f"{name}: got a lone surrogate, want valid Unicode") from None
        return
    raise ValueError(f"{name}: got {type(value).__name__}, want str, int or bool")


@dataclass(frozen=True, slots=True)
class Addendum:
    """One personal field: its name, its value and the nonce that blinds it."""

    field: str
    value: Value
    nonce: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.field, str) or not FIELD.fullmatch(self.field):
            raise ValueError(f"addendum field: got {self.field!r:.80}, want 1..64 of [A-Za-z0-9_.:-]")
        check_value(f"addendum {self.field}", self.value)
        if not isinstance(self.nonce, bytes) or not NONCE_SIZE <= len(self.nonce) <= 64:
            raise ValueError(f"addendum {self.field}: nonce of {len(self.nonce)} bytes, want "
                             f"{NONCE_SIZE} to 64 random bytes")

    def encode(self) -> bytes:
        data = json.dumps({"field": self.field, "nonce": self.nonce.hex(), "value": self.value},
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        if len(data) > MAX_ADDENDUM_BYTES:
            raise ValueError(f"addendum {self.field}: got {len(data)} bytes encoded, want at "
                             f"most {MAX_ADDENDUM_BYTES}")
        return data

    def digest(self) -> bytes:
        return digest(self.encode())


def parse_addendum(data: bytes, want: bytes | None = None) -> Addendum:
    """Parse the canonical encoding; with ``want``, first check that the bytes hash to it
    (VerificationError), as a consumer of an untrusted store must."""
    if want is not None and digest(data) != want:
        raise VerificationError(f"addendum hashes to {digest(data).hex()}, want {want.hex()}")
    if len(data) > MAX_ADDENDUM_BYTES:
        raise MalformedError(f"addendum of {len(data)} bytes, want at most {MAX_ADDENDUM_BYTES}")
    try:
        obj = json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedError(f"addendum: not UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict) or set(obj) != {"field", "nonce", "value"}:
        raise MalformedError('addendum: want a JSON object with exactly "field", "nonce", "value"')
    nonce = obj["nonce"]
    if not isinstance(nonce, str) or not _HEX_NONCE.fullmatch(nonce):
        raise MalformedError("addendum: nonce must be 32 to 128 lowercase hex digits")
    try:
        addendum = Addendum(obj["field"], obj["value"], bytes.fromhex(nonce))
    except ValueError as exc:
        raise MalformedError(str(exc)) from None
    if addendum.encode() != data:
        raise MalformedError("addendum: valid JSON but not the canonical encoding")
    return addendum


def committed(entry: bytes) -> dict[str, bytes]:
    """Field name -> digest for every addendum a JSON entry commits in its top-level
    ``"addenda"`` member; ``{}`` for an entry without one (or that is not JSON at all);
    MalformedError when the member is there but not an object of names to hex digests."""
    if not entry.startswith(b"{") or b'"addenda"' not in entry:
        return {}
    try:
        obj = json.loads(entry.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(obj, dict) or "addenda" not in obj:
        return {}
    member = obj["addenda"]
    if not isinstance(member, dict) or len(member) > MAX_ADDENDA:
        raise MalformedError(f'entry: "addenda" must be an object of at most {MAX_ADDENDA} '
                             "field names to digests")
    found = {}
    for name, text in member.items():
        if not FIELD.fullmatch(name):
            raise MalformedError(f"entry: addendum field {name!r:.80}, want 1..64 of [A-Za-z0-9_.:-]")
        found[name] = parse_digest(text)
    return found
