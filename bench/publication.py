"""Publication to S3 Object Lock (server/publisher.py): storage amplification and throughput.

    python bench/publication.py [--entries 20000] [--rates 100,1000,10000] [--interval 1]
                                [--entry-bytes 256] [--endpoint URL] [--processes N]

For each publication rate R (entries appended per second, published once per ``--interval``
seconds), a log in a scratch RocksDB is grown by R * interval entries per round (in sequencer
batches of at most 1,000, each signed) and published after each round, as the server's task
does. Time is not simulated by sleeping: a round is one interval's worth of appends. It reports,
per 1,000 entries: objects written, bytes written (payload, as S3 bills storage), and the S3
requests made (a PUT per object, three HEADs per round); and the publisher's throughput
(entries published per second of round time). Without ``--endpoint`` a SeaweedFS store is
started on loopback (tests/seaweedfs.py) with credentials of its own; with one, boto3's
credential chain applies. JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditlog_tlog.common.s3 import LockedBucket, connect
from auditlog_tlog.common.s3bucket import prepare_bucket
from auditlog_tlog.server.log_tables import PublishConfig
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.publisher import Publisher
from auditlog_tlog.server.signer import CheckpointSigner
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from bench.stats import percentile, summary

ORIGIN = "bench.example/publication"
BATCH = 1000


def _grow(store: LogStore, signer: CheckpointSigner, count: int, entry_bytes: int) -> None:
    while count:
        n = min(BATCH, count)
        first = store.size
        entries = [(b"%012d" % (first + i)).ljust(entry_bytes, b".") for i in range(n)]
        store.commit(store.prepare(entries, False))
        proof = store.consistency_proof(signer.last[0], store.size)
        store.commit_checkpoint(store.size, signer.sign(store.size, store.root, proof))
        count -= n


def measure_rate(endpoint: str, scratch: Path, rate: int, interval: float, entries: int,
                 entry_bytes: int, processes: int = 0) -> dict[str, Any]:
    client = connect(endpoint, "us-east-1", max_pool=40)
    name = f"bench-pub-{os.getpid()}-{rate}-{secrets.token_hex(3)}"
    prepare_bucket(client, name, 1)
    bucket = LockedBucket(client, name, 1, ORIGIN + "/")
    key = Ed25519Signer.generate(ORIGIN)
    scratch.mkdir(parents=True, exist_ok=True)
    db = Database(scratch / f"db-{rate}")
    store = LogStore(db, ORIGIN, SHA256)
    signer = CheckpointSigner(ORIGIN, SHA256, [key], 0, SHA256.empty_root())
    config = PublishConfig(bucket=name, retention_days=1, interval_s=interval,
                           endpoint_url=endpoint, processes=processes)
    publisher = Publisher(store, config, bucket, Metrics())
    publisher.open()
    per_round = max(1, int(rate * interval))
    objects = written = total = rounds = 0
    seconds = cpu = 0.0
    round_times: list[float] = []
    while store.size < entries:
        _grow(store, signer, min(per_round, entries - store.size), entry_bytes)
        started, cpu_started = time.perf_counter(), time.process_time()
        done = publisher.publish_once()
        round_times.append(time.perf_counter() - started)
        cpu += time.process_time() - cpu_started
        seconds += round_times[-1]
        if done is not None:
            objects, written, total, rounds = (objects + done.objects, written + done.written,
                                               total + done.bytes, rounds + 1)
    publisher.close()
    db.close()
    client.close()
    thousands = entries / 1000
    round_times.sort()
    return {
        "rate_entries_per_s": rate, "interval_s": interval, "entries": entries,
        "entry_bytes": entry_bytes, "rounds": rounds,
        "objects_per_1000": round(objects / thousands, 2),
        "bytes_per_1000": round(total / thousands),
        "entry_payload_bytes_per_1000": 1000 * entry_bytes,
        # a PUT per object, and a HEAD per object (confirm_each_object, the default; else for
        # the first object of a round, its history object and its checkpoint: docs/publication.md,
        # "Confirmation")
        "s3_requests_per_1000": round(2 * objects / thousands, 2),
        "processes": processes,
        "round_seconds_p50": round(percentile(round_times, 0.50), 4),
        "round_seconds_p99": round(percentile(round_times, 0.99), 4),
        "round_seconds_max": round(round_times[-1], 4),
        # A round starts when its interval's appends are in; an entry is published at most one
        # interval plus one round after it was appended, and at least one round after.
        "lag_seconds_p50": round(interval + percentile(round_times, 0.50), 4),
        "lag_seconds_p99": round(interval + percentile(round_times, 0.99), 4),
        "objects_per_s": round(objects / seconds),
        # CPU of this process (every thread) per object written: what boto3 costs the server
        # (with worker processes, only what stays in the server's process)
        "client_cpu_ms_per_object": round(1000 * cpu / max(objects, 1), 2),
        "published_entries_per_s": round(entries / seconds),
    }


@contextmanager
def _store(endpoint: str, scratch: Path) -> Any:
    if endpoint:
        yield endpoint
        return
    from tests import seaweedfs

    os.environ.update(seaweedfs.CREDENTIALS)
    yield from seaweedfs.running_seaweedfs(scratch / "seaweedfs")


def bare_puts(endpoint: str, objects: int, size: int, concurrency: int = 16) -> float:
    """The same-run baseline: objects/s of plain PUTs of ``size`` bytes to the same store from
    ``concurrency`` threads of one boto3 client (no lock, checksum, condition or read-back)."""
    from concurrent.futures import ThreadPoolExecutor

    client = connect(endpoint, "us-east-1", max_pool=concurrency + 2)
    name = f"bench-bare-{os.getpid()}-{secrets.token_hex(3)}"
    client.create_bucket(Bucket=name)
    body = b"x" * size
    try:
        with ThreadPoolExecutor(concurrency) as pool:
            started = time.perf_counter()
            list(pool.map(lambda n: client.put_object(Bucket=name, Key=f"o/{n}", Body=body),
                          range(objects)))
            return objects / (time.perf_counter() - started)
    finally:
        client.close()


PROCESSES = 0  # worker processes of the section (server/publish_worker.py): the default config


def run(entries: int, rate: int, runs: int, scratch: Path, log: Any,
        processes: int = PROCESSES) -> dict[str, Any]:
    """The ``publication`` section of ``bench/run.py``: ``runs`` publications of ``entries``
    entries appended at ``rate`` entries/s (one round a second) to a SeaweedFS on loopback, with
    ``processes`` worker processes, each beside bare PUTs of as many objects of the same mean
    size, in the same run."""
    out: dict[str, Any] = {"entries": entries, "rate_entries_per_s": rate, "processes": processes}
    reports, ratios, bare = [], [], []
    with _store("", scratch) as endpoint:
        for n in range(runs):
            log(f"publication: {entries} entries at {rate}/s, run {n + 1} of {runs}")
            report = measure_rate(endpoint, scratch / f"run-{n}", rate, 1.0, entries, 256,
                                  processes)
            objects = round(report["objects_per_1000"] * entries / 1000)
            mean = max(1, round(report["bytes_per_1000"] / max(report["objects_per_1000"], 1)))
            bare.append(bare_puts(endpoint, objects, mean))
            ratios.append(report["objects_per_s"] / bare[-1])
            reports.append(report)
    out["runs"] = reports
    out["published"] = summary([r["published_entries_per_s"] for r in reports], "entries/s", 0)
    out["objects"] = summary([r["objects_per_s"] for r in reports], "objects/s", 0)
    out["client_cpu_ms_per_object"] = summary([r["client_cpu_ms_per_object"] for r in reports],
                                              "ms", 2)
    out["bare_puts"] = summary(bare, "objects/s", 0)
    out["ratio_to_bare_puts"] = summary(ratios, "", 3)
    out["lag_p50"] = summary([r["lag_seconds_p50"] for r in reports], "s", 3)
    out["lag_p99"] = summary([r["lag_seconds_p99"] for r in reports], "s", 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--rates", default="100,1000,10000")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--entry-bytes", dest="entry_bytes", type=int, default=256)
    parser.add_argument("--endpoint", default="")
    parser.add_argument("--processes", type=int, default=0)
    args = parser.parse_args()
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-pub-")))
        endpoint = stack.enter_context(_store(args.endpoint, scratch))
        results = [measure_rate(endpoint, scratch, int(rate), args.interval, args.entries,
                                args.entry_bytes, args.processes) for rate in args.rates.split(",")]
    print(json.dumps({"publication": results}, indent=2))


if __name__ == "__main__":
    main()
