"""Private key files: created with mode 0600 on first start, refused when others can read them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from auditlog_tlog.common.files import create_secret, read_secret
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.vkeys import parse_vkey

if TYPE_CHECKING:
    from auditlog_tlog.server.config import LogConfig

log = logging.getLogger("auditlog.server")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A log key as GetLogInfo lists it."""

    verifier_key: str
    state: str
    since: str = ""
    until: str = ""


def load_log_keys(config: LogConfig) -> tuple[list[Ed25519Signer], tuple[KeyInfo, ...]]:
    """The active signers of a log and every key it lists (active first).

    Without ``[[log.key]]`` tables a log has one active key at ``key_file``. Active key files
    are created on first use; during a rotation every active key signs every checkpoint.
    """
    from auditlog_tlog.common.keys import KeyConfig

    configured = config.keys or (KeyConfig(file=config.key_file),)
    signers: list[Ed25519Signer] = []
    listed: list[KeyInfo] = []
    for key in sorted(configured, key=lambda k: k.state != "active"):
        if key.state == "active" and key.file is not None:
            signer, created = load_or_create_key(key.file, config.origin)
            if created:
                log.info("created a signing key for %s in %s; verifier key %s", config.origin,
                         key.file, signer.vkey())
            signers.append(signer)
            vkey = signer.vkey()
        elif key.vkey is not None:
            verifier = parse_vkey(key.vkey)
            if verifier.name != config.origin:
                raise ValueError(f"retired key {key.vkey} is named {verifier.name!r}, "
                                 f"want the origin {config.origin!r}")
            vkey = key.vkey
        else:
            assert key.file is not None
            vkey = read_key(key.file, config.origin).vkey()
        listed.append(KeyInfo(vkey, key.state, key.since, key.until))
    return signers, tuple(listed)


def load_or_create_key(path: Path, name: str) -> tuple[Ed25519Signer, bool]:
    """Return the signer stored at ``path`` (creating it for ``name`` if missing) and whether it
    was created now. A key readable by group or others, or for another name, is refused."""
    signer = Ed25519Signer.generate(name)
    if create_secret(path, signer.skey() + "\n"):
        return signer, True
    return read_key(path, name), False


def read_key(path: Path, name: str | None = None) -> Ed25519Signer:
    try:
        signer = Ed25519Signer.from_skey(read_secret(path))
    except MalformedError as exc:
        raise ValueError(f"key file {path} is not a private key: {exc}") from exc
    if name is not None and signer.name != name:
        raise ValueError(f"key file {path} holds a key for {signer.name!r}, want {name!r}")
    return signer
