"""A full disk (issue 11): appends answer RESOURCE_EXHAUSTED, reads go on, the log resumes by
itself once space is freed, SIGTERM exits 0 whatever the state, and nothing acknowledged is lost.

The real server runs with its data directory on a 20 MiB tmpfs, which needs root to mount (CI
runs the suite as root). A filler file takes most of the space; appends then fill the rest.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from tests.servers import RunningServer, start_server, write_server_config

ORIGIN = "full.example/log"
ENTRY = 4096
PER_BATCH = 64  # 256 KiB a batch


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 20 MiB tmpfs mounted for the test and unmounted after it."""
    if os.geteuid() != 0:
        pytest.fail("the disk-full test mounts a tmpfs and must run as root "
                    "(CI runs as root; locally: sudo .venv/bin/pytest tests/e2e/test_disk_full.py)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


class Appender:
    """Appends distinct entries and remembers every acknowledged one."""

    def __init__(self) -> None:
        self.acked: dict[int, bytes] = {}
        self.counter = 0

    def append(self, server: RunningServer) -> grpc.StatusCode:
        start = self.counter
        self.counter += PER_BATCH
        entries = [b"%08d" % i + os.urandom(ENTRY - 8) for i in range(start, self.counter)]
        try:
            response = server.stub().AppendBatch(
                pb.AppendBatchRequest(log=ORIGIN, entries=entries), timeout=30
            )
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc
            assert "full" in str(exc.details()) and "retry after" not in str(exc.details())
            return exc.code()
        for entry, result in zip(entries, response.results, strict=True):
            self.acked[result.index] = entry
        return grpc.StatusCode.OK

    def fill(self, server: RunningServer) -> None:
        """Append until the disk is full; that and every later attempt is RESOURCE_EXHAUSTED."""
        for _ in range(200):
            if self.append(server) != grpc.StatusCode.OK:
                break
        else:
            pytest.fail("200 batches of 256 KiB fitted on a 20 MiB disk")
        assert self.append(server) == grpc.StatusCode.RESOURCE_EXHAUSTED


def _filler(disk: Path, leave: int) -> Path:
    """A file taking all but ``leave`` bytes of the disk."""
    filler = disk / "filler"
    with filler.open("wb") as f:
        f.truncate(0)
        os.posix_fallocate(f.fileno(), 0, os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
                           - leave)
    return filler


def _check_everything_acknowledged(server: RunningServer, acked: dict[int, bytes]) -> int:
    size = int(server.stub().GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN)).size)
    stored: list[bytes] = []
    for page in server.stub().GetEntries(pb.GetEntriesRequest(log=ORIGIN, begin=0, end=size)):
        stored.extend(page.entries)
    for index, entry in acked.items():
        assert stored[index] == entry, f"acknowledged entry {index} lost"
    return size


def test_a_full_disk_pauses_appends_and_they_resume_when_space_is_freed(disk: Path) -> None:
    config = write_server_config(disk.parent, (ORIGIN,), extra_server=f'data_dir = "{disk}"')
    config.write_text(config.read_text().replace('data_dir = "data"\n', ""))
    server = start_server(config)
    appender = Appender()
    try:
        assert appender.append(server) == grpc.StatusCode.OK
        filler = _filler(disk, 3 << 20)
        appender.fill(server)
        # Reads go on while the disk is full, and show every acknowledged entry.
        assert _check_everything_acknowledged(server, appender.acked) == len(appender.acked)

        filler.unlink()  # the operator frees space: appends resume, no restart
        for _ in range(3):
            assert appender.append(server) == grpc.StatusCode.OK

        _filler(disk, 2 << 20)
        appender.fill(server)
        assert server.stop() == 0  # SIGTERM while the disk is still full
        assert not any("Traceback" in line for line in server.output), "".join(server.output)
    finally:
        if server.process.poll() is None:
            server.kill()
    (disk / "filler").unlink()
    server = start_server(config)
    try:
        size = _check_everything_acknowledged(server, appender.acked)
        assert size >= len(appender.acked)
        assert appender.append(server) == grpc.StatusCode.OK
    finally:
        assert server.stop() == 0
