"""bench/resident.py: a data directory's SST files held in the page cache by a holder process,
and the bytes a process read from disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import resident


def _mapped(pid: int, path: Path) -> bool:
    return str(path) in Path(f"/proc/{pid}/maps").read_text()


def test_a_holder_maps_every_sst_file_until_the_block_ends(tmp_path: Path) -> None:
    (tmp_path / "000001.sst").write_bytes(b"a" * 10_000)
    (tmp_path / "000002.sst").write_bytes(b"b" * 5_000)
    (tmp_path / "000003.sst").write_bytes(b"")  # an empty file cannot be mapped: skipped
    (tmp_path / "MANIFEST-000004").write_bytes(b"m" * 100)  # not an SST file: not held
    with resident.held(tmp_path) as held:
        pid = held["pid"]
        assert pid != os.getpid()
        assert held["files"] == 2 and held["bytes"] == 15_000
        assert held["read_from_disk_bytes"] >= 0 and held["seconds"] >= 0
        assert _mapped(pid, tmp_path / "000001.sst") and _mapped(pid, tmp_path / "000002.sst")
        assert not _mapped(pid, tmp_path / "MANIFEST-000004")
        assert not _mapped(os.getpid(), tmp_path / "000001.sst")  # the timing process maps nothing
    assert not Path(f"/proc/{pid}").exists()  # the holder exited and was reaped


def test_an_empty_directory_holds_nothing(tmp_path: Path) -> None:
    with resident.held(tmp_path) as held:
        assert held["files"] == 0 and held["bytes"] == 0


def test_a_missing_directory_holds_nothing(tmp_path: Path) -> None:
    with resident.held(tmp_path / "missing") as held:
        assert held["files"] == 0 and held["bytes"] == 0


def test_disk_read_bytes_of_this_and_another_process() -> None:
    assert resident.disk_read_bytes() >= 0
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert resident.disk_read_bytes(child.pid) >= 0
    finally:
        child.kill()
        child.wait()
    with pytest.raises(FileNotFoundError):
        resident.disk_read_bytes(child.pid)  # reaped: no /proc entry any more


def test_a_file_deleted_before_it_is_mapped_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept, gone = tmp_path / "000001.sst", tmp_path / "000002.sst"
    kept.write_bytes(b"k" * 4096)
    gone.write_bytes(b"g" * 4096)
    listed = sorted(tmp_path.glob("*.sst"))
    os.unlink(gone)  # a compaction deleted it between the listing and the open
    monkeypatch.setattr(Path, "glob", lambda self, pattern: iter(listed))
    maps, found = resident._map_all(tmp_path)
    try:
        assert found["files"] == 1 and found["bytes"] == 4096
    finally:
        for m in maps:
            m.close()
