"""The shared write-once bucket (common/s3.py) against a real enforcing store (SeaweedFS), a
store that enforces nothing of the lock's rules past the headers (moto_server), and a proxy in
front of SeaweedFS that lies about each guarantee in turn."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from auditlog_tlog.common.s3 import Failure, Guarantee, LockedBucket, S3Error, connect
from tests import seaweedfs
from tests.s3double import lying_store
from tests.witness import s3server

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@pytest.fixture
def s3(seaweed_url: str) -> Iterator[S3Client]:
    client = seaweedfs.client(seaweed_url)
    yield client
    client.close()


def test_an_enforcing_bucket_passes_the_check_and_the_probe(s3: S3Client) -> None:
    bucket = LockedBucket(s3, seaweedfs.make_bucket(s3, "probe-ok"), 1, "log/")
    bucket.check()
    bucket.probe()
    versions = s3.list_object_versions(Bucket=bucket.bucket)["Versions"]
    assert [v["Key"].startswith("log/.canary/") for v in versions] == [True]


@pytest.mark.parametrize(("lock", "versioning", "guarantee"), [
    (False, False, Guarantee.VERSIONING), (False, True, Guarantee.OBJECT_LOCK),
])
def test_the_check_names_the_missing_setting(
    s3: S3Client, lock: bool, versioning: bool, guarantee: Guarantee
) -> None:
    bucket = LockedBucket(s3, seaweedfs.make_bucket(s3, "unfit", lock, versioning), 1)
    with pytest.raises(S3Error) as info:
        bucket.check()
    assert info.value.kind is Failure.BROKEN and info.value.guarantee is guarantee


@pytest.mark.parametrize(("breaks", "guarantee"), [
    ("delete", Guarantee.NO_DELETE),
    ("retention", Guarantee.NO_SHORTEN),
    ("lock", Guarantee.LOCK_ON_PUT),
])
def test_the_probe_refuses_a_store_that_lies(
    s3: S3Client, seaweed_url: str, breaks: str, guarantee: Guarantee,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in seaweedfs.CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    name = seaweedfs.make_bucket(s3, "liar")
    with lying_store(seaweed_url, breaks) as url:
        client = connect(url, "us-east-1")
        bucket = LockedBucket(client, name, 1)
        bucket.check()  # the settings look right: only the probe sees the lie
        with pytest.raises(S3Error) as info:
            bucket.probe()
        client.close()
    assert info.value.kind is Failure.BROKEN and info.value.guarantee is guarantee
    assert guarantee.value in str(info.value)


def test_the_probe_refuses_moto_which_lets_a_retention_be_shortened(moto_url: str) -> None:
    client = s3server.client(moto_url)
    bucket = LockedBucket(client, s3server.make_bucket(client, "moto-probe"), 1)
    bucket.check()
    with pytest.raises(S3Error) as info:
        bucket.probe()
    client.close()
    assert info.value.guarantee is Guarantee.NO_SHORTEN


def test_put_once_writes_locked_and_never_replaces(s3: S3Client) -> None:
    bucket = LockedBucket(s3, seaweedfs.make_bucket(s3, "once"), 3, "p/")
    assert bucket.put_once("tile/0/000", b"tile bytes") is True
    head = s3.head_object(Bucket=bucket.bucket, Key="p/tile/0/000")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    want = datetime.now(UTC) + timedelta(days=3)
    assert abs(head["ObjectLockRetainUntilDate"] - want) < timedelta(seconds=5)
    assert head["Metadata"]["sha256"] == hashlib.sha256(b"tile bytes").hexdigest()
    assert bucket.put_once("tile/0/000", b"tile bytes") is False  # a 412 on our own object
    with pytest.raises(S3Error) as info:
        bucket.put_once("tile/0/000", b"other bytes")
    assert info.value.kind is Failure.DIFFERENT
    assert bucket.put_once("tile/0/000", b"other bytes", same=False) is False
    assert bucket.get("tile/0/000") == b"tile bytes"
    assert len(s3.list_object_versions(Bucket=bucket.bucket)["Versions"]) == 1


class _Answers:
    """A client whose PUT answers are changed by ``edit`` (the store itself is real)."""

    def __init__(self, client: S3Client, edit: dict[str, object]) -> None:
        self._client, self._edit = client, edit

    def put_object(self, **kwargs: object) -> dict[str, object]:
        answer = dict(self._client.put_object(**kwargs))  # type: ignore[arg-type]
        answer.update(self._edit)
        return answer

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)


def test_put_once_confirmed_by_the_put_answer_writes_locked(s3: S3Client) -> None:
    bucket = LockedBucket(s3, seaweedfs.make_bucket(s3, "answer"), 2, "p/")
    assert bucket.put_once("tile/0/001", b"tile bytes", confirm=False) is True
    head = s3.head_object(Bucket=bucket.bucket, Key="p/tile/0/001")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    want = datetime.now(UTC) + timedelta(days=2)
    assert abs(head["ObjectLockRetainUntilDate"] - want) < timedelta(seconds=5)
    assert bucket.put_once("tile/0/001", b"tile bytes", confirm=False) is False  # 412, checked
    with pytest.raises(S3Error) as info:
        bucket.put_once("tile/0/001", b"other bytes", confirm=False)
    assert info.value.kind is Failure.DIFFERENT


@pytest.mark.parametrize(("edit", "kind"), [
    ({"VersionId": "null"}, Failure.BROKEN),
    ({"ChecksumSHA256": "AAAA"}, Failure.NOT_LOCKED),
])
def test_a_put_answer_without_a_version_or_with_another_checksum_is_refused(
        s3: S3Client, edit: dict[str, object], kind: Failure) -> None:
    name = seaweedfs.make_bucket(s3, "badanswer")
    bucket = LockedBucket(_Answers(s3, edit), name, 1)  # type: ignore[arg-type]
    with pytest.raises(S3Error) as info:
        bucket.put_once("k", b"bytes", confirm=False)
    assert info.value.kind is kind
    assert "want" in str(info.value)


def test_a_foreign_object_without_our_metadata_is_compared_by_content(s3: S3Client) -> None:
    bucket = LockedBucket(s3, seaweedfs.make_bucket(s3, "foreign"), 1)
    s3.put_object(Bucket=bucket.bucket, Key="k", Body=b"same", ObjectLockMode="COMPLIANCE",
                  ObjectLockRetainUntilDate=datetime.now(UTC) + timedelta(days=1))
    assert bucket.put_once("k", b"same") is False
    with pytest.raises(S3Error) as info:
        bucket.put_once("k", b"else")
    assert info.value.kind is Failure.DIFFERENT and "want the 4 bytes" in str(info.value)


def test_put_version_keeps_every_version_locked(s3: S3Client) -> None:
    bucket = LockedBucket(s3, seaweedfs.make_bucket(s3, "versions"), 1)
    first = bucket.put_version("checkpoint", b"one")
    second = bucket.put_version("checkpoint", b"two")
    assert first != second and bucket.get("checkpoint") == b"two"
    assert bucket.get("missing") is None
    for version in (first, second):
        head = s3.head_object(Bucket=bucket.bucket, Key="checkpoint", VersionId=version)
        assert head["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(S3Error) as info:
        bucket.get("checkpoint", limit=2)
    assert info.value.kind is Failure.REFUSED
