"""Publication to S3 Object Lock (server/publisher.py) against a real store (SeaweedFS): the
layout, write-once objects, resumption after a crash mid-round, a foreign object at a key, the
bucket as an anchor, and the lag with a fake clock."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import ClientError

from auditlog_tlog.common.s3 import LockedBucket
from auditlog_tlog.server.bucket_anchor import BucketAnchor
from auditlog_tlog.server.config import parse_config
from auditlog_tlog.server.log_tables import PublishConfig
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.publisher import (
    Publisher,
    changed_objects,
    history_name,
)
from auditlog_tlog.server.signer import CheckpointSigner
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.errors import CorruptionError
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.tiles import (
    decode_entry_bundle,
    encode_entry_bundle,
    entry_bundles_for_size,
    tiles_for_size,
)
from tests import seaweedfs
from tests.clock import FakeClock

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ORIGIN = "test.example/published"


@dataclass
class Log:
    db: Database
    store: LogStore
    signer: CheckpointSigner

    def append(self, count: int, tag: str = "e") -> None:
        first = self.store.size
        entries = [f"{tag}{first + i}".encode() for i in range(count)]
        store = self.store
        store.commit(store.prepare(entries, False))
        proof = store.consistency_proof(self.signer.last[0], store.size)
        store.commit_checkpoint(store.size, self.signer.sign(store.size, store.root, proof))


def _log(directory: Path, key: Ed25519Signer) -> Log:
    db = Database(directory)
    store = LogStore(db, ORIGIN, SHA256)
    return Log(db, store, CheckpointSigner(ORIGIN, SHA256, [key], 0, SHA256.empty_root()))


@pytest.fixture
def key() -> Ed25519Signer:
    return Ed25519Signer.generate(ORIGIN)


@pytest.fixture
def log(tmp_path: Path, key: Ed25519Signer) -> Iterator[Log]:
    opened = _log(tmp_path / "db", key)
    yield opened
    opened.db.close()


@pytest.fixture
def s3(seaweed_url: str) -> Iterator[S3Client]:
    client = seaweedfs.client(seaweed_url)
    yield client
    client.close()


CONFIG = PublishConfig(bucket="unused-name", retention_days=1, interval_s=5, concurrency=4)


def _publisher(log: Log, bucket: LockedBucket, clock: FakeClock | None = None,
               config: PublishConfig = CONFIG) -> Publisher:
    publisher = Publisher(log.store, config, bucket, Metrics(), clock or FakeClock(time.time()))
    publisher.open()
    return publisher


def _versions(s3: S3Client, bucket: str) -> list[str]:
    found = s3.list_object_versions(Bucket=bucket).get("Versions", [])
    return sorted(v["Key"] for v in found)


def _bucket(s3: S3Client) -> LockedBucket:
    return LockedBucket(s3, seaweedfs.make_bucket(s3, "publish"), 1, ORIGIN + "/")


@pytest.mark.parametrize("each", [True, False])
def test_a_round_reads_back_every_object_or_a_sample(
        s3: S3Client, log: Log, each: bool) -> None:
    calls: list[str] = []
    events: Any = s3.meta.events
    for operation in ("PutObject", "HeadObject"):
        events.register(f"before-call.s3.{operation}",
                        lambda model, **_: calls.append(model.name))
    bucket = _bucket(s3)
    config = dataclasses.replace(CONFIG, confirm_each_object=each)
    publisher = _publisher(log, bucket, config=config)
    calls.clear()
    log.append(600)
    done = publisher.publish_once()
    assert done is not None and done.objects == 2 + 7  # 3 tiles, 3 bundles, 1 upper tile
    assert calls.count("PutObject") == done.objects
    # docs/publication.md, "Confirmation": all, or the first, the history and the checkpoint
    assert calls.count("HeadObject") == (done.objects if each else 3)
    for found in s3.list_object_versions(Bucket=bucket.bucket)["Versions"]:
        head = s3.head_object(Bucket=bucket.bucket, Key=found["Key"], VersionId=found["VersionId"])
        assert head["ObjectLockMode"] == "COMPLIANCE", found["Key"]


def test_changed_objects_are_the_tiles_and_bundles_that_differ() -> None:
    names = [name for name, _ in changed_objects(None, 0, 300)]  # type: ignore[arg-type]
    assert sorted(names) == sorted([*tiles_for_size(300), *entry_bundles_for_size(300)])
    names = [name for name, _ in changed_objects(None, 300, 600)]  # type: ignore[arg-type]
    assert names == ["tile/0/001", "tile/entries/001", "tile/0/002.p/88",
                     "tile/entries/002.p/88", "tile/1/000.p/2"]
    assert list(changed_objects(None, 600, 600)) == []  # type: ignore[arg-type]


def test_publication_writes_the_tlog_tiles_layout_once_and_locked(s3: S3Client, log: Log) -> None:
    bucket = _bucket(s3)
    publisher = _publisher(log, bucket)
    assert publisher.publish_once() is None  # nothing signed yet
    log.append(300)
    first = publisher.publish_once()
    assert first is not None and (first.size, first.objects, first.written) == (300, 7, 7)
    log.append(300)
    second = publisher.publish_once()
    assert second is not None and (second.size, second.objects) == (600, 7)
    assert publisher.publish_once() is None
    prefix = ORIGIN + "/"
    keys = [k.removeprefix(prefix) for k in _versions(s3, bucket.bucket) if ".canary" not in k]
    partial_300 = ["tile/0/001.p/44", "tile/entries/001.p/44", "tile/1/000.p/1"]
    assert keys == sorted([
        *tiles_for_size(600), *entry_bundles_for_size(600), *partial_300,
        history_name(300), history_name(600), "checkpoint", "checkpoint",
    ])
    assert bucket.get("checkpoint") == log.store.checkpoint() == bucket.get(history_name(600))
    assert bucket.get(history_name(300)) == log.store.checkpoint(300)
    tile = bucket.get("tile/0/000")
    assert tile == b"".join(log.store.leaf_hash(i) for i in range(256))
    assert decode_entry_bundle(bucket.get("tile/entries/002.p/88") or b"", 88)[0] == b"e512"
    for found in s3.list_object_versions(Bucket=bucket.bucket)["Versions"]:
        head = s3.head_object(Bucket=bucket.bucket, Key=found["Key"], VersionId=found["VersionId"])
        assert head["ObjectLockMode"] == "COMPLIANCE", found["Key"]


def test_a_crash_mid_round_resumes_with_no_gap_and_no_overwrite(s3: S3Client, log: Log) -> None:
    bucket = _bucket(s3)
    log.append(700)
    crashed = _publisher(log, bucket)
    # The crash: tiles and bundles written, neither the history object nor the checkpoint.
    list(crashed._write_all(changed_objects(log.store, 0, 700)))
    assert bucket.get("checkpoint") is None
    resumed = _publisher(log, bucket)
    assert resumed.published == 0
    done = resumed.publish_once()
    assert done is not None and done.size == 700 and done.written == 2  # history + checkpoint
    assert done.objects == len(tiles_for_size(700)) + len(entry_bundles_for_size(700)) + 2
    keys = _versions(s3, bucket.bucket)
    assert len(keys) == len(set(keys))  # one version of each: nothing was written twice
    assert _publisher(log, bucket).published == 700


def test_a_different_object_at_a_key_stops_publication(s3: S3Client, log: Log) -> None:
    bucket = _bucket(s3)
    bucket.put_once("tile/entries/000.p/5", b"\x00\x03not")
    log.append(5)
    publisher = _publisher(log, bucket)
    with pytest.raises(CorruptionError, match="want the"):
        publisher.publish_once()
    assert bucket.get("checkpoint") is None and publisher.published == 0


@pytest.mark.parametrize("poisoned", [False, True])
def test_worker_processes_publish_the_same_objects_and_stop_on_a_different_one(
        s3: S3Client, log: Log, seaweed_url: str, monkeypatch: pytest.MonkeyPatch,
        poisoned: bool) -> None:
    # The processes open the bucket themselves, from the environment they inherit.
    for name, value in seaweedfs.CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = _bucket(s3)
    if poisoned:  # another object at a key the round writes
        bucket.put_once("tile/entries/003.p/132", b"\x00\x03not")
    config = dataclasses.replace(CONFIG, endpoint_url=seaweed_url, processes=2)
    publisher = _publisher(log, bucket, config=config)
    try:
        log.append(900)
        if poisoned:
            with pytest.raises(CorruptionError, match="want the"):
                publisher.publish_once()
            assert bucket.get("checkpoint") is None and publisher.published == 0
            return
        first = publisher.publish_once()
        assert first is not None and (first.size, first.objects, first.written) == (900, 11, 11)
    finally:
        publisher.close()
    keys = [k.removeprefix(ORIGIN + "/") for k in _versions(s3, bucket.bucket) if ".canary" not in k]
    assert keys == sorted([*tiles_for_size(900), *entry_bundles_for_size(900), history_name(900),
                           "checkpoint"])
    assert bucket.get("tile/entries/003.p/132") == encode_entry_bundle(log.store.entries(768, 900))
    for found in s3.list_object_versions(Bucket=bucket.bucket)["Versions"]:
        head = s3.head_object(Bucket=bucket.bucket, Key=found["Key"], VersionId=found["VersionId"])
        assert head["ObjectLockMode"] == "COMPLIANCE", found["Key"]


def test_the_bucket_is_an_anchor_the_local_tree_must_extend(
    s3: S3Client, log: Log, tmp_path: Path, key: Ed25519Signer
) -> None:
    bucket = _bucket(s3)
    log.append(600)
    publisher = _publisher(log, bucket)
    assert publisher.anchor.latest() is None and BucketAnchor(bucket).latest() is None
    assert publisher.publish_once() is not None
    assert BucketAnchor(bucket).latest() == log.store.checkpoint() == publisher.anchor.latest()
    assert publisher.anchor.name == f"bucket s3://{bucket.bucket}/{ORIGIN}/checkpoint"
    shorter = _log(tmp_path / "older", key)  # e.g. an old backup of the database
    shorter.append(300)
    with pytest.raises(CorruptionError, match="only 300 entries"):
        _publisher(shorter, bucket)
    shorter.db.close()
    forked = _log(tmp_path / "forked", key)  # the same key, another history
    forked.append(700, tag="x")
    with pytest.raises(CorruptionError, match="not consistent"):
        _publisher(forked, bucket)
    forked.db.close()
    log.append(10)
    assert _publisher(log, bucket).published == 600  # a longer, consistent tree is fine


def test_lag_and_interval_follow_the_clock(s3: S3Client, log: Log) -> None:
    clock = FakeClock(time.time())
    publisher = _publisher(log, _bucket(s3), clock)
    assert publisher.observe_lag() == (0, 0.0) and publisher.due()
    log.append(10)
    assert publisher.observe_lag() == (10, 0.0)
    clock.t += 2.5
    assert publisher.observe_lag() == (10, 2.5)
    assert publisher.publish_once() is not None
    assert publisher.observe_lag() == (0, 0.0) and publisher.last_success == clock.t
    assert not publisher.due()
    clock.t += 5
    assert publisher.due()


def test_the_publish_table_in_the_docs_parses_and_bad_ones_are_refused() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "publication.md"
    block = docs.read_text().split("```toml\n", 1)[1].split("```", 1)[0]
    (config,) = parse_config(block, Path("/etc/auditlog")).logs
    assert config.publish is not None and config.publish.retention_days == 2555
    assert config.publish.endpoint_url == "https://s3.example:8333"
    base = '[[log]]\norigin = "a.example/log"\n[log.publish]\n'
    for table, problem in (
        ('retention_days = 1\n', "bucket is required"),
        ('bucket = "records"\n', "retention_days is required"),
        ('bucket = "records"\nretention_days = 0\n', "retention_days = 0, want 1..36500"),
        ('bucket = "records"\nretention_days = 1\nprefix = "p"\n', "want '' or 'a/b/'"),
        ('bucket = "records"\nretention_days = 1\nlock = true\n', "unknown keys ['lock']"),
        ('bucket = "records"\nretention_days = "7"\n', "want int"),
    ):
        with pytest.raises(ValueError, match=re.escape(problem)):
            parse_config(base + table, Path("/etc/auditlog"))


class FlakyPuts:
    """A real S3 client whose first ``failures`` puts answer 503 SlowDown."""

    def __init__(self, real: S3Client, failures: int) -> None:
        self._real, self.failures = real, failures

    def put_object(self, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            response: Any = {"Error": {"Code": "SlowDown", "Message": "slow down"},
                             "ResponseMetadata": {"HTTPStatusCode": 503}}
            raise ClientError(response, "PutObject")
        return self._real.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_transient_errors_are_retried_and_counted(s3: S3Client, log: Log) -> None:
    flaky = FlakyPuts(s3, 2)
    bucket = LockedBucket(cast("S3Client", flaky), seaweedfs.make_bucket(s3, "flaky"), 1,
                          ORIGIN + "/")
    metrics, sleeps = Metrics(), list[float]()
    publisher = Publisher(log.store, CONFIG, bucket, metrics, FakeClock(time.time()), sleeps.append)
    publisher.open()
    log.append(3)
    assert publisher.publish_once() is not None and bucket.get("checkpoint") == log.store.checkpoint()
    assert len(sleeps) == 2 and flaky.failures == 0
    retries = metrics.registry.get_sample_value("auditlog_publish_retries_total", {"log": ORIGIN})
    assert retries == 2
    objects = metrics.registry.get_sample_value("auditlog_published_objects_total", {"log": ORIGIN})
    assert objects == 4  # a partial tile and bundle, the history object, the checkpoint


def test_the_task_publishes_on_the_clock_and_wakes_waiters(s3: S3Client, log: Log) -> None:
    clock = FakeClock(time.time())
    publisher = _publisher(log, _bucket(s3), clock)

    async def main() -> None:
        publisher.start()
        log.append(5)
        waiter = asyncio.ensure_future(publisher.wait_published(5))
        await asyncio.sleep(0.2)
        assert not waiter.done() and publisher.published == 0  # the clock has not moved
        clock.advance(0.05)  # one tick: the first round is due at once
        await asyncio.wait_for(waiter, 30)  # the round's S3 requests take real time
        assert publisher.published == 5
        log.append(1)
        for _ in range(20):  # 1 s of ticks, less than the 5 s interval: no round
            clock.advance(0.05)
            await asyncio.sleep(0.01)
        entries, seconds = publisher.observe_lag()
        assert publisher.published == 5 and entries == 1 and 0.9 <= seconds <= 1.0 + 1e-6
        clock.advance(4.0)
        for _ in range(300):
            if publisher.published == 6:
                break
            clock.advance(0.05)
            await asyncio.sleep(0.01)
        assert publisher.published == 6
        log.append(2)
        await publisher.stop()  # the last round publishes what was signed
        assert publisher.published == 8

    asyncio.run(main())
