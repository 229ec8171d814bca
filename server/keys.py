"""Private key files: created with mode 0600 on first start, refused when others can read them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tree.errors import MalformedError
from tree.note import Ed25519Signer


def load_or_create_key(path: Path, name: str) -> tuple[Ed25519Signer, bool]:
    """Return the signer stored at ``path`` (creating it for ``name`` if missing) and whether it
    was created now. A key readable by group or others, or for another name, is refused."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_key(path, name), False
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return load_or_create_key(path, name)
    signer = Ed25519Signer.generate(name)
    with os.fdopen(fd, "w") as f:
        f.write(signer.skey() + "\n")
        f.flush()
        os.fsync(f.fileno())
    return signer, True


def check_private_mode(path: Path) -> None:
    """Refuse a private key file that group or others may read or write."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise ValueError(f"cannot read key file {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise PermissionError(
            f"key file {path} has mode {mode:04o}; others can read it: run 'chmod 600 {path}'"
        )


def read_key(path: Path, name: str | None = None) -> Ed25519Signer:
    check_private_mode(path)
    try:
        signer = Ed25519Signer.from_skey(path.read_text().strip())
    except MalformedError as exc:
        raise ValueError(f"key file {path} is not a private key: {exc}") from exc
    if name is not None and signer.name != name:
        raise ValueError(f"key file {path} holds a key for {signer.name!r}, want {name!r}")
    return signer
