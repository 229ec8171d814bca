"""Keep a log's files in the page cache while proofs are timed, and count what is read from disk.

A proof past ~10^5 entries reads one stratum from RocksDB, and the bench means to time that
read from the page cache (docs/proof-reads.md). The machine of these runs does not keep file
pages that long: its kernel runs DAMON (``/sys/kernel/mm/damon/admin/kdamonds``) with a
``pageout`` scheme for physical memory regions seen idle for 60 s or more, which drops the
*unmapped* page-cache pages in them (anonymous and mapped pages are filtered out). A log built
minutes earlier then lost part of its strata: in one run at 10^7 entries 38 % of the SST bytes
were still cached, 75 % of the proofs read their stratum from disk and a proof over gRPC took
3-6x the empty call instead of ~1.3x. Reading the files once does not last either: the
regions stay "idle" by DAMON's sampling and are paged out again within seconds.

:func:`held` maps every SST file of a data directory (read only, ``MAP_POPULATE``) in a
process of its own, asleep, for the duration of a timed block: the pages are then resident and
mapped, which the scheme skips. Neither the measured server nor the timing client maps
anything (a server's RSS does not count another process's mappings; a client holding 3.8 GB
mapped answered its empty calls ~2 % slower in alternated runs). :func:`disk_read_bytes` is
``read_bytes`` of ``/proc/PID/io``: the bytes a process caused to be read from the disk,
reported per call so that a proof that read from disk after all shows in the figures.

    python -m bench.resident DIR    # the holder: maps, prints one JSON line, waits for EOF
"""

from __future__ import annotations

import json
import mmap
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# How long the end of a block waits for the holder to exit before killing it.
STOP_TIMEOUT_S = 10.0


def disk_read_bytes(pid: int | None = None) -> int:
    """Bytes process ``pid`` (default: this one) has caused to be read from storage so far."""
    text = Path(f"/proc/{'self' if pid is None else pid}/io").read_text()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == "read_bytes":
            return int(value)
    raise ValueError(f"/proc/{pid}/io has no read_bytes line, got {text!r}")


def _map_all(directory: Path) -> tuple[list[mmap.mmap], dict[str, Any]]:
    """Every ``*.sst`` file of ``directory`` mapped and populated, and what that took."""
    started, before = time.perf_counter(), disk_read_bytes()
    maps: list[mmap.mmap] = []
    for path in sorted(directory.glob("*.sst")):
        try:
            with path.open("rb") as file:
                size = os.fstat(file.fileno()).st_size
                if size:
                    maps.append(mmap.mmap(file.fileno(), size, mmap.MAP_SHARED | mmap.MAP_POPULATE,
                                          mmap.PROT_READ))
        except FileNotFoundError:
            continue  # deleted by a compaction since the listing
    return maps, {
        "files": len(maps),
        "bytes": sum(len(m) for m in maps),
        "seconds": round(time.perf_counter() - started, 2),
        "read_from_disk_bytes": disk_read_bytes() - before,
    }


@contextmanager
def held(directory: Path) -> Iterator[dict[str, Any]]:
    """Hold every ``*.sst`` file in ``directory`` mapped and populated in a holder process
    until the block ends. Yields how many files and bytes it mapped, how long that took, how
    many bytes it had to read from disk for it (the part of the log that was no longer
    cached), and the holder's ``pid``."""
    holder = subprocess.Popen(
        [sys.executable, "-m", "bench.resident", os.fspath(directory)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        if not line:
            raise RuntimeError(f"the page-cache holder of {directory} exited with "
                               f"{holder.wait()}, want one JSON line")
        found: dict[str, Any] = json.loads(line)
        found["pid"] = holder.pid
        yield found
    finally:
        if holder.stdin is not None:
            holder.stdin.close()  # end of input: the holder unmaps and exits
        try:
            holder.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def main() -> int:
    maps, found = _map_all(Path(sys.argv[1]))
    print(json.dumps(found), flush=True)
    sys.stdin.read()  # until the parent closes it
    for m in maps:
        m.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
