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

:func:`held` maps every SST file of a data directory (read only, ``MAP_POPULATE``) for the
duration of a timed block: the pages are then resident and mapped, which the scheme skips. It
changes nothing in the measured process (a server's RSS does not count another process's
mappings) and reads the files once at most. :func:`disk_read_bytes` is ``read_bytes`` of
``/proc/PID/io``: the bytes a process caused to be read from the disk, reported per call so
that a proof that read from disk after all shows in the figures.
"""

from __future__ import annotations

import mmap
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def disk_read_bytes(pid: int | None = None) -> int:
    """Bytes process ``pid`` (default: this one) has caused to be read from storage so far."""
    text = Path(f"/proc/{'self' if pid is None else pid}/io").read_text()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == "read_bytes":
            return int(value)
    raise ValueError(f"/proc/{pid}/io has no read_bytes line, got {text!r}")


@contextmanager
def held(directory: Path) -> Iterator[dict[str, Any]]:
    """Map every ``*.sst`` file in ``directory`` into this process, populated, until the block
    ends. Yields how many files and bytes were mapped, how long it took, and how many bytes
    had to be read from disk for it (the part of the log that was no longer cached)."""
    started, before = time.perf_counter(), disk_read_bytes()
    maps: list[mmap.mmap] = []
    try:
        for path in sorted(directory.glob("*.sst")):
            try:
                with path.open("rb") as file:
                    size = os.fstat(file.fileno()).st_size
                    if size:
                        maps.append(mmap.mmap(file.fileno(), size,
                                              mmap.MAP_SHARED | mmap.MAP_POPULATE,
                                              mmap.PROT_READ))
            except FileNotFoundError:
                continue  # deleted by a compaction since the listing
        yield {
            "files": len(maps),
            "bytes": sum(len(m) for m in maps),
            "seconds": round(time.perf_counter() - started, 2),
            "read_from_disk_bytes": disk_read_bytes() - before,
        }
    finally:
        for m in maps:
            m.close()
