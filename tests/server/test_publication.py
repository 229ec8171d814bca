"""A log server (``auditlog serve``, a real process) publishing to a real S3 store (SeaweedFS):
publication beside the append path, acknowledgement after publication, the publication figures
in GetLogInfo and /metrics, a lying bucket refused at start, and the bucket as an anchor when the
database is lost."""

from __future__ import annotations

import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest

from auditlog_tlog.common.s3 import LockedBucket
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.note import parse_note
from tests import seaweedfs
from tests.s3double import lying_store
from tests.servers import AUDITLOG, running, start_server, write_server_config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ORIGIN = "test.example/log"


@pytest.fixture
def s3(seaweed_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Client]:
    for name, value in seaweedfs.CREDENTIALS.items():
        monkeypatch.setenv(name, value)  # the server processes inherit them
    client = seaweedfs.client(seaweed_url)
    yield client
    client.close()


def _config(directory: Path, url: str, bucket: str, extra: str = "") -> Path:
    directory.mkdir(exist_ok=True)
    return write_server_config(directory, (ORIGIN,), extra_log=(
        f'[log.publish]\nbucket = "{bucket}"\nendpoint_url = "{url}"\nregion = "us-east-1"\n'
        f'retention_days = 1\ninterval_s = 0.05\n{extra}'
    ))


def _published(stub: object, size: int, timeout: float = 20) -> pb.LogInfo:
    deadline = time.monotonic() + timeout
    while True:
        info: pb.LogInfo = stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN))  # type: ignore[attr-defined]
        if info.publication.published_size >= size or time.monotonic() > deadline:
            return info
        time.sleep(0.05)


def _bucket_size(s3: S3Client, bucket: str) -> int:
    note = LockedBucket(s3, bucket, 1, ORIGIN + "/").get("checkpoint")
    return 0 if note is None else parse_checkpoint(parse_note(note).text).size


def test_a_server_publishes_beside_the_append_path(
    s3: S3Client, seaweed_url: str, tmp_path: Path
) -> None:
    bucket = seaweedfs.make_bucket(s3, "served")
    for server in running(_config(tmp_path, seaweed_url, bucket)):
        stub = server.stub()
        stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=[b"%d" % i for i in range(300)]))
        info = _published(stub, 300)
        assert info.publication.bucket == bucket and info.publication.prefix == ORIGIN + "/"
        assert info.publication.published_size == 300 and info.publication.lag_entries == 0
        assert info.publication.last_published_unix > time.time() - 60
        assert not info.publication.acknowledge_after_publication and not info.publication.failure
        note = stub.GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN)).checkpoint
        assert LockedBucket(s3, bucket, 1, ORIGIN + "/").get("checkpoint") == note
        with urllib.request.urlopen(server.metrics_url, timeout=5) as reply:
            metrics = reply.read().decode()
        assert f'auditlog_published_size{{log="{ORIGIN}"}} 300.0' in metrics
        assert f'auditlog_publish_lag_entries{{log="{ORIGIN}"}} 0.0' in metrics
        objects = [line for line in metrics.splitlines()
                   if line.startswith("auditlog_published_objects_total")]
        assert objects and float(objects[0].split()[-1]) >= 7


def test_acknowledgement_after_publication(s3: S3Client, seaweed_url: str, tmp_path: Path) -> None:
    bucket = seaweedfs.make_bucket(s3, "acked")
    config = _config(tmp_path, seaweed_url, bucket, "acknowledge_after_publication = true\n")
    for server in running(config):
        stub = server.stub()
        for i in range(3):
            reply = stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"acked %d" % i), timeout=30)
            assert _bucket_size(s3, bucket) >= reply.result.index + 1
        info = stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN))
        assert info.publication.acknowledge_after_publication


def test_a_bucket_that_does_not_enforce_the_lock_stops_the_server(
    s3: S3Client, seaweed_url: str, tmp_path: Path
) -> None:
    bucket = seaweedfs.make_bucket(s3, "liar")
    with lying_store(seaweed_url, "delete") as url:
        server = None
        try:
            server = start_server(_config(tmp_path, url, bucket))
        except RuntimeError as exc:
            message = str(exc)
        assert server is None, "the server started on a lying bucket"
    assert "a locked version cannot be deleted" in message, message
    unfit = seaweedfs.make_bucket(s3, "unlocked", lock=False)
    with pytest.raises(RuntimeError, match="Object Lock is not enabled"):
        start_server(_config(tmp_path / "b", seaweed_url, unfit))


def test_a_lost_database_does_not_sign_behind_the_bucket(
    s3: S3Client, seaweed_url: str, tmp_path: Path
) -> None:
    bucket = seaweedfs.make_bucket(s3, "anchor")
    config = _config(tmp_path, seaweed_url, bucket)
    for server in running(config):
        stub = server.stub()
        stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=[b"a", b"b", b"c"]))
        assert _published(stub, 3).publication.published_size == 3
    shutil.rmtree(tmp_path / "data")  # the key survives, the database does not
    for server in running(config):
        with pytest.raises(grpc.RpcError) as info:
            server.stub().Append(pb.AppendRequest(log=ORIGIN, entry=b"d"))
        assert info.value.code() == grpc.StatusCode.DATA_LOSS  # a halted log
        details = str(info.value.details())
        assert "smaller than the checkpoint at size 3 in bucket s3://" in details, details
        halted = server.stub().GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN)).halted
        assert f"bucket s3://{bucket}/{ORIGIN}/checkpoint" in halted
    assert _bucket_size(s3, bucket) == 3
    assert AUDITLOG  # the same console script as every other server test


def _metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(f'{name}{{log="{ORIGIN}"}}'):
                return float(line.split()[-1])
    return 0.0


def test_appends_never_wait_on_an_unreachable_bucket_and_publication_catches_up(
    s3: S3Client, seaweed_url: str, tmp_path: Path
) -> None:
    bucket = seaweedfs.make_bucket(s3, "outage")
    outage: set[str] = set()
    with lying_store(seaweed_url, live=outage) as url:
        config = _config(tmp_path, url, bucket, "max_attempts = 2\ntimeout_s = 2\n")
        for server in running(config):
            stub = server.stub()
            stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"before"))
            assert _published(stub, 1).publication.published_size == 1
            outage.add("down")
            started = time.monotonic()
            for i in range(5):
                stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"during %d" % i), timeout=5)
            assert time.monotonic() - started < 5
            deadline = time.monotonic() + 30
            while _metric(server.metrics_url, "auditlog_publish_errors_total") < 1:
                assert time.monotonic() < deadline, "no failed round counted"
                time.sleep(0.1)
            assert _metric(server.metrics_url, "auditlog_publish_retries_total") >= 1
            info = stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN)).publication
            assert info.lag_entries == 5 and info.lag_seconds > 0 and not info.failure
            assert info.published_size == 1
            outage.clear()  # the store is back: publication catches up, from the bucket's size
            assert _published(stub, 6, timeout=60).publication.published_size == 6
    assert _bucket_size(s3, bucket) == 6
