"""Issue 17, retention: local entry bundles are pruned once the bucket holds them locked and
identical and they are older than ``prune_after_days`` (server/retention.py), against a real
store (SeaweedFS) with a fake clock; after pruning, proofs, dedup and reopening still work, a
read of a pruned entry is a ``PrunedError`` naming the pruned minimum, and ``auditlog restore``
from the bucket rebuilds every entry. Also the oldest record's retain-until date."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from auditlog_tlog.client.cli import build_parser, main
from auditlog_tlog.client.context import Context
from auditlog_tlog.client.monitor import Monitor
from auditlog_tlog.client.restore import Restorer
from auditlog_tlog.client.restore_worker import SourceSpec
from auditlog_tlog.common.s3 import LockedBucket
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.config import LogConfig
from auditlog_tlog.server.log_tables import PublishConfig
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.publisher import Publisher
from auditlog_tlog.server.retention import Retention
from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.server.tiledata import entry_bundle
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.errors import InvalidRangeError, NotFoundError, PrunedError
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.verify import verify_inclusion
from tests import seaweedfs
from tests.clock import FakeClock
from tests.server.test_publisher import ORIGIN, Log, _log
from tests.servers import running, write_server_config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DAY = 86400.0
SERVED = "retention.example/log"


@pytest.fixture
def s3(seaweed_url: str) -> Iterator[S3Client]:
    client = seaweedfs.client(seaweed_url)
    yield client
    client.close()


@pytest.fixture
def key() -> Ed25519Signer:
    return Ed25519Signer.generate(ORIGIN)


@pytest.fixture
def log(tmp_path: Path, key: Ed25519Signer) -> Iterator[Log]:
    opened = _log(tmp_path / "db", key)
    yield opened
    opened.db.close()


def _retention(log: Log, s3: S3Client, clock: FakeClock, days: int = 2,
               bucket_name: str | None = None) -> tuple[Retention, Publisher]:
    config = PublishConfig(bucket="unused-name", retention_days=1, interval_s=5, concurrency=4,
                           prune_after_days=days)
    name = bucket_name or seaweedfs.make_bucket(s3, "retention")
    bucket = LockedBucket(s3, name, 1, ORIGIN + "/", clock.now)
    publisher = Publisher(log.store, config, bucket, Metrics(), clock)
    publisher.open()

    async def prune(end: int) -> None:
        await asyncio.to_thread(log.store.prune, end)

    return Retention(log.store, prune, publisher, days, Metrics(), clock), publisher


def test_confirmed_old_bundles_are_pruned_and_proofs_still_work(
    key: Ed25519Signer, s3: S3Client, seaweed_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _log(tmp_path / "db", key)
    clock = FakeClock(time.time())
    retention, publisher = _retention(log, s3, clock)
    log.append(700)
    publisher.publish_once()  # bundles 0 and 1 full, bundle 2 partial
    root = log.store.root
    assert asyncio.run(retention.run_once()) == 0  # written just now: too young
    assert retention.oldest_retain_until is not None
    assert abs(retention.oldest_retain_until.timestamp() - (clock.now() + DAY)) < 5
    clock.advance(3 * DAY)
    assert asyncio.run(retention.run_once()) == 512  # only full, published bundles
    store = log.store
    assert store.pruned == 512
    with pytest.raises(PrunedError) as pruned:
        store.entries(500, 520)
    assert pruned.value.pruned == 512 and "[500, 512) were pruned" in str(pruned.value)
    assert isinstance(pruned.value, NotFoundError)
    assert store.entries(512, 520) == [b"e%d" % i for i in range(512, 520)]
    for index in (0, 255, 511, 600):  # proofs of pruned and kept entries alike
        proof = store.inclusion_proof(index, store.size)
        verify_inclusion(SHA256, index, store.size, SHA256.hash_leaf(b"e%d" % index), proof, root)
    assert store.consistency_proof(100, store.size)
    # Dedup still knows pruned entries: appending one again is a duplicate of its first index.
    (outcome,) = store.prepare([b"e3"], dedup=True).outcomes
    assert outcome.duplicate and outcome.index == 3
    with pytest.raises(InvalidRangeError):
        store.prune(600)  # not a whole bundle
    # Reopened, the store still knows what it pruned.
    log.db.close()
    db = Database(tmp_path / "db")
    try:
        reopened = LogStore(db, ORIGIN, SHA256)
        assert reopened.pruned == 512 and reopened.root == root
        with pytest.raises(PrunedError):
            entry_bundle(reopened, 0, 256)
    finally:
        db.close()
    publisher._pool.shutdown()
    # The bucket still holds everything: a restore from it rebuilds the entries pruned here.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs.ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs.SECRET_KEY)
    spec = SourceSpec(f"s3://{publisher.bucket.bucket}/{ORIGIN}", ORIGIN, "sha256",
                      s3_endpoint=seaweed_url, workers=2)
    restored_db = Database(tmp_path / "restored")
    try:
        result = Restorer(spec, [key.verifier()], processes=0).run(restored_db, SHA256)
        assert result.size == 700 and result.root == root
        restored = LogStore(restored_db, ORIGIN, SHA256)
        assert restored.pruned == 0 and restored.entries(0, 2) == [b"e0", b"e1"]
    finally:
        restored_db.close()


def test_a_bundle_that_differs_in_the_bucket_is_not_pruned(log: Log, s3: S3Client) -> None:
    clock = FakeClock(time.time())
    name = seaweedfs.make_bucket(s3, "retention-foreign")
    # Someone else's bundle 0 at the log's key, locked: the log must keep its own copy.
    LockedBucket(s3, name, 1, ORIGIN + "/").put_once("tile/entries/000", b"\x00\x01x" * 256)
    retention, publisher = _retention(log, s3, clock, bucket_name=name)
    log.append(300)
    publisher.published = 300  # as if published (the foreign object blocks a real round)
    clock.advance(3 * DAY)
    assert asyncio.run(retention.run_once()) == 0
    assert log.store.entries(0, 1) == [b"e0"]
    publisher._pool.shutdown()


def test_pruning_is_off_by_default(log: Log, s3: S3Client) -> None:
    clock = FakeClock(time.time())
    retention, publisher = _retention(log, s3, clock, days=0)
    log.append(300)
    publisher.publish_once()
    clock.advance(10_000 * DAY)
    assert asyncio.run(retention.run_once()) == 0
    publisher._pool.shutdown()


def test_the_runtime_names_the_bucket_for_pruned_entries(log: Log, s3: S3Client) -> None:
    clock = FakeClock(time.time())
    retention, publisher = _retention(log, s3, clock)
    log.append(300)
    publisher.publish_once()
    clock.advance(timedelta(days=3).total_seconds())
    asyncio.run(retention.run_once())
    runtime = LogRuntime(LogConfig(ORIGIN, Path("unused.key")), "", log.store)
    runtime.publisher = publisher
    with pytest.raises(PrunedError) as pruned:
        list(runtime.entry_pages(0, 10))
    assert f"--source s3://{publisher.bucket.bucket}/{ORIGIN}/" in str(pruned.value)
    assert next(e for _, page in runtime.entry_pages(256, 300) for e in page) == b"e256"
    publisher._pool.shutdown()


# -- a real server over a pruned database ------------------------------------------------------
def _wait_published(stub: Any, size: int) -> pb.LogInfo:
    for _ in range(400):
        info: pb.LogInfo = stub.GetLogInfo(pb.GetLogInfoRequest(log=SERVED))
        if info.publication.published_size >= size and info.publication.oldest_retain_until_unix:
            return info
        time.sleep(0.05)
    raise AssertionError(f"not published: {info}")


def test_a_server_over_a_pruned_database(
    s3: S3Client, seaweed_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in seaweedfs.CREDENTIALS.items():
        monkeypatch.setenv(name, value)  # the server processes inherit them
    monkeypatch.delenv("AUDITLOG_CONFIG", raising=False)
    bucket = seaweedfs.make_bucket(s3, "pruned-server")
    config = write_server_config(tmp_path, (SERVED,), extra_log=(
        f'[log.publish]\nbucket = "{bucket}"\nendpoint_url = "{seaweed_url}"\n'
        'region = "us-east-1"\nretention_days = 1\ninterval_s = 0.05\nprune_after_days = 1\n'))
    for server in running(config):
        server.stub().AppendBatch(pb.AppendBatchRequest(
            log=SERVED, entries=[b"s%d" % i for i in range(600)]))
        info = _wait_published(server.stub(), 600)
        assert info.publication.retention_days == 1 and info.publication.pruned_below == 0
        left = info.publication.oldest_retain_until_unix - time.time()
        assert DAY - 60 < left <= DAY + 5
        vkey = info.verifier_key
    # Prune as the retention pass would, a day later (the server is stopped: one writer).
    db = Database(tmp_path / "data" / "db")
    try:
        LogStore(db, SERVED, SHA256).prune(512)
    finally:
        db.close()
    for server in running(config):
        stub = server.stub()
        info = _wait_published(stub, 600)
        assert info.publication.pruned_below == 512
        with pytest.raises(grpc.RpcError) as pruned:
            list(stub.GetEntries(pb.GetEntriesRequest(log=SERVED, begin=0, end=10)))
        assert pruned.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert f"--source s3://{bucket}/{SERVED}/" in (pruned.value.details() or "")
        assert list(stub.GetEntries(pb.GetEntriesRequest(log=SERVED, begin=512, end=513)))
        proof = stub.GetInclusionProof(pb.GetInclusionProofRequest(log=SERVED, index=3))
        assert proof.proof  # proofs of pruned entries still come from the server
        with pytest.raises(urllib.error.HTTPError) as gone:
            urllib.request.urlopen(f"{server.tiles_url}/{SERVED}/tile/entries/000", timeout=10)
        assert gone.value.code == 410
        # The command line: a one-line error that names the bucket; the bucket has them.
        common = ["--server", server.address, "--log", SERVED, "--log-key", vkey,
                  "--state-dir", str(tmp_path / "state")]
        assert main(["entries", *common, "--begin", "0", "--end", "3"]) == 1
        assert "read them from the bucket" in capsys.readouterr().err
        assert main(["entries", *common, "--begin", "0", "--end", "3", "--source",
                     f"s3://{bucket}/{SERVED}", "--s3-endpoint", seaweed_url]) == 0
        assert capsys.readouterr().out.splitlines()[0] == "0\ts0"
        # monitor: the oldest records' lock ends within a day: a warning with 2 days' notice.
        assert main(["monitor", *common, "--once", "--expiry-warning", "2"]) == 1
        assert "ALERT expiring" in capsys.readouterr().err
        assert main(["monitor", *common, "--once", "--expiry-warning", "0.5"]) == 0
        # ... and once it has ended, an alert that they expired.
        args = build_parser().parse_args(["monitor", *common, "--once"])
        monitor = Monitor(Context(args), wall=lambda: time.time() + 2 * DAY)
        assert monitor.check(once=True) == 1
        assert "ALERT expired" in capsys.readouterr().err
