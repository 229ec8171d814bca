"""Verifier keys of every signature type we understand (c2sp.org/signed-note@v1.0.0 "Signatures",
c2sp.org/tlog-cosignature@v1.0.1 "Format").

``parse_vkey`` reads ``<name>+<hex8 key ID>+base64(type || public key)`` and returns the verifier
of its type: 0x01 Ed25519 note signatures (``tree.keys``) or 0x04 cosignature/v1
(``tree.cosignature``). It lives apart from both so that neither needs the other: ``cosignature``
builds on ``keys`` and ``note``, and this module sits above all three.
"""

from __future__ import annotations

from auditlog_tlog.tree.cosignature import CosignatureVerifier
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.keys import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Ed25519Verifier,
    NoteVerifier,
    split_vkey,
)


def parse_vkey(vkey: str) -> NoteVerifier:
    """A verifier for a type 0x01 (Ed25519) or 0x04 (cosignature/v1) vkey; else MalformedError."""
    name, sig_type, key = split_vkey(vkey)
    if sig_type == SIG_TYPE_ED25519:
        return Ed25519Verifier(name, key)
    if sig_type == SIG_TYPE_COSIGNATURE_V1:
        return CosignatureVerifier(name, key)
    raise MalformedError(f"vkey: got type {sig_type:#04x}, want 0x01 or 0x04")
