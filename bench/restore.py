"""Restore rate: entries per second that ``auditlog restore`` verifies and imports.

    python bench/restore.py [--entries 1000000] [--entry-bytes 256] [--source file|s3]
                            [--workers 16] [--out restore.json]

A published log of ``--entries`` entries (one checkpoint every 100,000 entries, the tiles and
bundles of the latest size, a history of checkpoints) is written to a scratch directory
(``file``), or to a ``moto_server`` bucket on 127.0.0.1 (``s3``; moto is a Python server and
measures itself more than the restore), then restored into a fresh database with the code the
command runs (``client.restore.Restorer``). Prints one JSON object; the budget is 200,000/s.
``entries_per_cpu_s`` divides by the CPU time of this process instead (not of the worker
processes that fetch and hash), which a busy machine distorts less.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditlog_tlog.client.restore_worker import SourceSpec, close_sources
from auditlog_tlog.client.tiles_source import history_path
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.checkpoint import Checkpoint
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer, Ed25519Verifier
from auditlog_tlog.tree.note import sign_note
from auditlog_tlog.tree.tiles import (
    TILE_WIDTH,
    encode_entry_bundle,
    entries_path,
    tile_path,
    tile_width,
)

ORIGIN = "bench.example/restore"
CHECKPOINT_EVERY = 100_000


def publish(directory: Path, count: int, entry_bytes: int) -> tuple[str, dict[str, bytes]]:
    """Build the log by appends and return (verifier key, {object path: bytes})."""
    signer = Ed25519Signer.generate(ORIGIN)
    objects: dict[str, bytes] = {}
    db = Database(directory / "source-db")
    store = LogStore(db, ORIGIN, SHA256)
    pad = b"x" * max(0, entry_bytes - 12)
    done = 0
    while done < count:
        end = min(count, done + CHECKPOINT_EVERY)
        batch = store.prepare([b"%012d" % i + pad for i in range(done, end)], dedup=False)
        note = sign_note(Checkpoint(ORIGIN, end, batch.root).to_text(), [signer])
        store.commit(batch)
        store.commit_checkpoint(end, note)
        objects[history_path(end)] = note
        done = end
    objects["checkpoint"] = objects[history_path(count)]
    level = 0
    while count >> (8 * level):
        for index in range(-(-(count >> (8 * level)) // TILE_WIDTH)):
            width = tile_width(level, index, count)
            row = store.tile(level, index) or b""
            objects[tile_path(level, index, width)] = row[: 32 * width]
        level += 1
    for index in range(-(-count // TILE_WIDTH)):
        width = tile_width(0, index, count)
        begin = index * TILE_WIDTH
        objects[entries_path(index, width)] = encode_entry_bundle(store.entries(begin, begin + width))
    db.close()
    shutil.rmtree(directory / "source-db")
    return signer.vkey(), objects


def _source(kind: str, directory: Path, objects: dict[str, bytes]) -> tuple[str, str | None, Any]:
    """(source URL, S3 endpoint, the moto_server generator to close)."""
    if kind == "file":
        root = directory / "bucket"
        for path, body in objects.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(body)
        return f"file://{root}", None, None
    from tests.witness import s3server

    os.environ.update(s3server.CREDENTIALS)
    moto = s3server.running_moto()
    url = next(moto)
    s3 = s3server.client(url)
    s3server.make_bucket(s3, "bench", lock=False, versioning=False)
    for path, body in objects.items():
        s3.put_object(Bucket="bench", Key=f"log/{path}", Body=body)
    return "s3://bench/log", url, moto


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--entry-bytes", type=int, default=256)
    parser.add_argument("--source", choices=("file", "s3"), default="file")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from auditlog_tlog.client.restore import Restorer
    from auditlog_tlog.tree.vkeys import parse_vkey

    scratch = Path(tempfile.mkdtemp(prefix="bench-restore-"))
    moto = None
    try:
        started = time.perf_counter()
        vkey, objects = publish(scratch, args.entries, args.entry_bytes)
        url, endpoint, moto = _source(args.source, scratch, objects)
        built = time.perf_counter() - started
        spec = SourceSpec(url, ORIGIN, "sha256", endpoint, None, args.workers)
        db = Database(scratch / "restored")
        verifier = parse_vkey(vkey)
        assert isinstance(verifier, Ed25519Verifier)
        started, cpu = time.perf_counter(), time.process_time()
        restorer = Restorer(spec, [verifier], processes=args.processes)
        result = restorer.run(db, SHA256)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        db.close()
        close_sources()
        report = {
            "benchmark": "restore", "source": args.source, "entries": result.size,
            "entry_bytes": args.entry_bytes, "workers": args.workers, "processes": args.processes,
            "objects": len(objects), "tiles_checked": result.tiles,
            "checkpoints_checked": result.checkpoints, "seconds": round(seconds, 3),
            "entries_per_s": round(result.size / seconds), "budget_entries_per_s": 200_000,
            # On a shared machine the wall-clock rate measures the neighbours; CPU seconds of
            # this process (all its threads) do not.
            "cpu_seconds": round(cpu, 3), "entries_per_cpu_s": round(result.size / cpu),
            "setup_seconds": round(built, 1),
        }
    finally:
        if moto is not None:
            moto.close()
        shutil.rmtree(scratch, ignore_errors=True)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
