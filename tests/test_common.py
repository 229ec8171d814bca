"""common/files.py: secrets are created once, 0600 and durable, and read back bounded."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from auditlog_tlog.common.files import MAX_SECRET, create_secret, read_secret, write_once


def test_a_secret_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "log.key"  # the folder does not exist yet
    assert create_secret(path, "PRIVATE+KEY+x\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not create_secret(path, "another\n")  # never overwritten
    assert read_secret(path) == "PRIVATE+KEY+x"


def test_reading_a_secret_checks_mode_and_size(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text("x")
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        read_secret(path)
    path.chmod(0o600)
    path.write_bytes(b"x" * (MAX_SECRET + 1))
    with pytest.raises(ValueError, match="over 4096 bytes"):
        read_secret(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="not text"):
        read_secret(path)


def test_write_once_never_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "object"
    assert write_once(path, b"first")
    assert not write_once(path, b"second")
    assert path.read_bytes() == b"first" and stat.S_IMODE(path.stat().st_mode) == 0o444


def test_write_once_without_sync_still_never_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "staged"
    assert write_once(path, b"first", sync=False)
    assert not write_once(path, b"second", sync=False)
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["staged"]  # no temporary file left
