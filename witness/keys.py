"""The witness's private key file (c2sp.org/tlog-cosignature@v1.0.1, "Ed25519 cosignatures"):
x/mod's ``PRIVATE+KEY+<name>+<hex8>+base64(0x01 || seed)``, as ``auditlog keygen --witness``
writes it. Created with mode 0600 on first start; a file that group or others can read, or
that holds a key for another name, is refused.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tree.cosignature import CosignatureSigner
from tree.errors import MalformedError

MAX_KEY_FILE = 4096


def load_or_create_key(path: Path, name: str) -> tuple[CosignatureSigner, bool]:
    """The witness key stored at ``path`` (created for ``name`` if missing), and whether it was
    created now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return read_key(path, name), False
    signer = CosignatureSigner.generate(name)
    with os.fdopen(fd, "w") as f:
        f.write(signer.skey() + "\n")
        f.flush()
        os.fsync(f.fileno())
    return signer, True


def read_key(path: Path, name: str | None = None) -> CosignatureSigner:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(
            f"key file {path} has mode {mode:04o}; others can read it: run 'chmod 600 {path}'"
        )
    with path.open() as f:
        text = f.read(MAX_KEY_FILE + 1)
    try:
        signer = CosignatureSigner.from_skey(text.strip())
    except MalformedError as exc:
        raise ValueError(f"key file {path} is not a private key: {exc}") from exc
    if name is not None and signer.name != name:
        raise ValueError(f"key file {path} holds a key for {signer.name!r}, want {name!r}")
    return signer
