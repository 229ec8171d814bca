"""The witness's private key files (c2sp.org/tlog-cosignature@v1.0.1, "Ed25519 cosignatures"):
x/mod's ``PRIVATE+KEY+<name>+<hex8>+base64(0x01 || seed)``, as ``auditlog keygen --witness``
writes it. Created with mode 0600 on first start; a file that group or others can read, or
that holds a key for another name, is refused.

Key rotation: ``[[witness.key]]`` tables list several keys, all with the witness's name.
Every ``active`` key cosigns every checkpoint (one signature line each), so that logs and
clients configured with either the old or the new key keep verifying during the overlap;
``retired`` keys sign nothing and are only listed (by ``vkey``, or by a file still on disk).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditlog_tlog.common.files import create_secret, read_secret
from auditlog_tlog.common.keys import KeyConfig
from auditlog_tlog.tree.cosignature import CosignatureSigner, CosignatureVerifier
from auditlog_tlog.tree.errors import MalformedError


@dataclass(frozen=True, slots=True)
class WitnessKeys:
    """The active signers (in config order), every listed key, and the files created now."""

    active: tuple[CosignatureSigner, ...]
    listed: tuple[tuple[str, KeyConfig], ...]  # (vkey, its config), active first
    created: tuple[Path, ...] = ()


def load_keys(name: str, key_file: Path, keys: tuple[KeyConfig, ...] = ()) -> WitnessKeys:
    """The witness's keys: ``keys`` if given, else one active key at ``key_file``.

    Active key files are created (mode 0600) if missing; every key file, active or retired,
    must be mode 0600; every key must be named ``name``.
    """
    configured = keys or (KeyConfig(file=key_file),)
    active: list[CosignatureSigner] = []
    listed: list[tuple[str, KeyConfig]] = []
    created: list[Path] = []
    for key in sorted(configured, key=lambda k: k.state != "active"):
        if key.state == "active":
            assert key.file is not None
            signer, new = load_or_create_key(key.file, name)
            if new:
                created.append(key.file)
            active.append(signer)
            vkey = signer.vkey()
        elif key.file is not None:
            vkey = read_key(key.file, name).vkey()
        else:
            assert key.vkey is not None
            try:
                verifier = CosignatureVerifier.from_vkey(key.vkey)
            except MalformedError as exc:
                raise ValueError(f"[[witness.key]] vkey: {exc}") from exc
            if verifier.name != name:
                raise ValueError(f"[[witness.key]] vkey {key.vkey} is named {verifier.name!r}, "
                                 f"want the witness name {name!r}")
            vkey = key.vkey
        listed.append((vkey, key))
    vkeys = [vkey for vkey, _ in listed]
    if len(set(vkeys)) != len(vkeys):
        raise ValueError(f"[[witness.key]]: the same key is listed twice: {sorted(vkeys)}")
    return WitnessKeys(tuple(active), tuple(listed), tuple(created))


def load_or_create_key(path: Path, name: str) -> tuple[CosignatureSigner, bool]:
    """The witness key stored at ``path`` (created for ``name`` if missing), and whether it was
    created now."""
    signer = CosignatureSigner.generate(name)
    if create_secret(path, signer.skey() + "\n"):
        return signer, True
    return read_key(path, name), False


def read_key(path: Path, name: str | None = None) -> CosignatureSigner:
    try:
        signer = CosignatureSigner.from_skey(read_secret(path))
    except MalformedError as exc:
        raise ValueError(f"key file {path} is not a private key: {exc}") from exc
    if name is not None and signer.name != name:
        raise ValueError(f"key file {path} holds a key for {signer.name!r}, want {name!r}")
    return signer
