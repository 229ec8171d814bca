"""Restore rate: entries per second that ``auditlog restore`` verifies and imports.

    python bench/restore.py [--entries 1000000] [--entry-bytes 256] [--source file|s3]
                            [--workers 16] [--out restore.json]

A published log of ``--entries`` entries (one checkpoint every 100,000 entries, the tiles and
bundles of the latest size, a history of checkpoints) is written to a scratch directory
(``file``), or to a ``moto_server`` bucket on 127.0.0.1 (``s3``; moto is a Python server and
measures itself more than the restore), then restored into a fresh database with the code the
command runs (``client.restore.Restorer``). Prints one JSON object; the budget is 200,000/s.
``entries_per_cpu_s`` divides by the CPU time of this process instead (not of the worker
processes that fetch and hash), which a busy machine distorts less. The same-run baseline
``bare_rows_entries_per_s`` writes only the rows of each entry into a fresh database.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
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


def bare_rows(directory: Path, objects: dict[str, bytes], count: int) -> float:
    """The same-run baseline: entries/s of writing only the rows a restore writes per entry
    (the entry and its leaf-hash index, the hashes taken as given) in synced batches of 65,536,
    into a fresh database: what the import costs without fetching, decoding and verifying."""
    from auditlog_tlog.tree.tiles import decode_entry_bundle

    entries = [e for i in range(-(-count // TILE_WIDTH))
               for e in decode_entry_bundle(objects[entries_path(i, tile_width(0, i, count))])]
    leaves = [SHA256.hash_leaf(e) for e in entries]
    db = Database(directory / "bare")
    try:
        started = time.perf_counter()
        for begin in range(0, count, 1 << 16):
            batch = db.batch()
            for index in range(begin, min(count, begin + (1 << 16))):
                key = index.to_bytes(8, "big")
                batch.put(b"E" + key, entries[index])
                batch.put(b"H" + leaves[index], key)
            db.write(batch)
        return count / (time.perf_counter() - started)
    finally:
        db.close()
        shutil.rmtree(directory / "bare", ignore_errors=True)


def restore_once(scratch: Path, url: str, endpoint: str | None, vkey: str, workers: int,
                 processes: int) -> tuple[int, float, float, Any]:
    """Restore the published log into a fresh database: (entries, seconds, CPU seconds of this
    process, the result)."""
    from auditlog_tlog.client.restore import Restorer
    from auditlog_tlog.tree.vkeys import parse_vkey

    spec = SourceSpec(url, ORIGIN, "sha256", endpoint, None, workers)
    db = Database(scratch / "restored")
    try:
        verifier = parse_vkey(vkey)
        assert isinstance(verifier, Ed25519Verifier)
        started, cpu = time.perf_counter(), time.process_time()
        result = Restorer(spec, [verifier], processes=processes).run(db, SHA256)
        return (result.size, time.perf_counter() - started, time.process_time() - cpu, result)
    finally:
        db.close()
        close_sources()
        shutil.rmtree(scratch / "restored", ignore_errors=True)


def measure(entries: int, entry_bytes: int = 256, source: str = "file", workers: int = 16,
            processes: int = 1) -> dict[str, Any]:
    """Publish, then restore and time it; the report of one run (see the module docstring)."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-restore-"))
    moto = None
    try:
        started = time.perf_counter()
        vkey, objects = publish(scratch, entries, entry_bytes)
        url, endpoint, moto = _source(source, scratch, objects)
        built = time.perf_counter() - started
        size, seconds, cpu, result = restore_once(scratch, url, endpoint, vkey, workers, processes)
        bare = bare_rows(scratch, objects, entries)
        rate = size / seconds
        return {
            "benchmark": "restore", "source": source, "entries": size,
            "entry_bytes": entry_bytes, "workers": workers, "processes": processes,
            "objects": len(objects), "tiles_checked": result.tiles,
            "checkpoints_checked": result.checkpoints, "seconds": round(seconds, 3),
            "entries_per_s": round(rate), "budget_entries_per_s": 200_000,
            # On a shared machine the wall-clock rate measures the neighbours; CPU seconds of
            # this process (all its threads, not the worker processes) do not.
            "cpu_seconds": round(cpu, 3), "entries_per_cpu_s": round(size / cpu),
            "bare_rows_entries_per_s": round(bare),
            "ratio_to_bare_rows": round(rate / bare, 3),
            "setup_seconds": round(built, 1),
        }
    finally:
        if moto is not None:
            moto.close()
        shutil.rmtree(scratch, ignore_errors=True)


def run(entries: int, runs: int, scratch: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """The ``restore`` section of ``bench/run.py``: one log of ``entries`` entries published
    to files, restored ``runs`` times with two worker processes (the command's default), one,
    and in threads, each run beside a bare write of its rows (the same-run baseline)."""
    from bench.stats import summary

    directory = scratch / "restore"
    directory.mkdir(parents=True, exist_ok=True)
    log(f"restore: publishing {entries} entries to files")
    vkey, objects = publish(directory, entries, 256)
    url, _, _ = _source("file", directory, objects)
    out: dict[str, Any] = {"entries": entries, "objects": len(objects)}
    for processes in (2, 1, 0):
        rates, per_cpu, bare, ratios = [], [], [], []
        for n in range(runs):
            log(f"restore: --processes {processes}, run {n + 1} of {runs}")
            size, seconds, cpu, _ = restore_once(directory, url, None, vkey, 16, processes)
            rates.append(size / seconds)
            per_cpu.append(size / cpu)
            bare.append(bare_rows(directory, objects, entries))
            ratios.append(rates[-1] / bare[-1])
        out[f"processes_{processes}"] = {
            "rate": summary(rates, "entries/s", 0),
            "per_cpu_s": summary(per_cpu, "entries/cpu-s", 0),
            "bare_rows": summary(bare, "entries/s", 0),
            "ratio_to_bare_rows": summary(ratios, "", 3),
        }
    shutil.rmtree(directory, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--entry-bytes", type=int, default=256)
    parser.add_argument("--source", choices=("file", "s3"), default="file")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = measure(args.entries, args.entry_bytes, args.source, args.workers, args.processes)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
