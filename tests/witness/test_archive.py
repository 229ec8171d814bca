"""Write-once archives: the local directory backend, and the S3 Object Lock backend against a real
S3 API (moto_server on loopback)."""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from auditlog_tlog.tree.errors import CorruptionError, StorageError
from auditlog_tlog.tree.note import add_signatures
from auditlog_tlog.witness.archive import LocalArchive, cosigned_key, evidence_key, link_unnamed
from auditlog_tlog.witness.s3archive import S3Archive
from tests import seaweedfs
from tests.clock import FakeClock
from tests.witness import s3server
from tests.witness.helpers import TestLog, make_witness

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KEY = cosigned_key("test.example/log", 7, b"note")


# -- local ---------------------------------------------------------------------------------------
def test_local_objects_are_read_only_and_never_rewritten(tmp_path: Path) -> None:
    archive = LocalArchive(tmp_path / "archive")
    assert archive.put(KEY, b"first") is True
    path = archive.path_of(KEY)
    assert path.read_bytes() == b"first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert archive.put(KEY, b"second") is False
    assert path.read_bytes() == b"first"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left


@pytest.mark.parametrize("unnamed", [True, False], ids=["O_TMPFILE", "temporary-name"])
def test_staged_objects_are_complete_read_only_and_never_rewritten(tmp_path: Path,
                                                                   unnamed: bool) -> None:
    archive = LocalArchive(tmp_path / "archive")
    assert archive.unnamed is True  # Linux on ext4/tmpfs: the request path links unnamed files
    archive.unnamed = unnamed
    keys = [cosigned_key("test.example/log", size, b"note") for size in (7, 7, 8)]
    keys[1] = cosigned_key("test.example/log", 7, b"another note")  # a second object at size 7
    for key in keys:
        archive.write_staged(key, key.encode())
    for key in keys:
        path = archive.path_of(key)
        assert path.read_bytes() == key.encode()
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
        archive.write_staged(key, b"other")  # never rewritten
        assert path.read_bytes() == key.encode()
    names = sorted(p.name for p in tmp_path.glob("archive/**/*"))
    assert not [n for n in names if n.startswith(".")]  # no temporary or probe files left
    assert len([n for n in names if len(n) == 64]) == 4  # the origin's directory, 3 objects


def test_link_unnamed_of_a_taken_name_keeps_the_object_there(tmp_path: Path) -> None:
    (tmp_path / "object").write_bytes(b"first")
    assert link_unnamed(str(tmp_path), str(tmp_path / "object"), b"second", 0o444) is False
    assert (tmp_path / "object").read_bytes() == b"first"
    assert link_unnamed(str(tmp_path), str(tmp_path / "new"), b"x" * 70_000, 0o444) is True
    assert (tmp_path / "new").read_bytes() == b"x" * 70_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "object"]


def test_a_prepared_object_is_invisible_until_published(tmp_path: Path) -> None:
    archive = LocalArchive(tmp_path / "archive")
    archive.put(cosigned_key("test.example/log", 1, b"first"), b"first")  # the log's directories
    key = cosigned_key("test.example/log", 7, b"note")
    unlinked = archive.prepare_staged(key, b"note")
    assert unlinked is not None
    path = archive.path_of(key)
    assert path.parent.is_dir() and not list(path.parent.iterdir())
    archive.publish_staged(unlinked)
    assert path.read_bytes() == b"note" and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert archive.prepare_staged(key, b"note") is None  # there already: nothing to prepare
    taken = cosigned_key("test.example/log", 8, b"x")
    unlinked = archive.prepare_staged(taken, b"second")
    assert unlinked is not None
    archive.write_staged(taken, b"first")  # another writer links the name first
    archive.publish_staged(unlinked)  # and keeps it: never rewritten
    assert archive.path_of(taken).read_bytes() == b"first"
    assert archive.prepare_staged(cosigned_key("other.example/log", 1, b"x"), b"x") is None


def test_local_keys_are_checked(tmp_path: Path) -> None:
    archive = LocalArchive(tmp_path)
    for bad in ("../x", "cosigned/../../etc/passwd", "cosigned/ab/1/cd", ""):
        with pytest.raises(ValueError, match="archive key"):
            archive.put(bad, b"x")
    assert evidence_key("o", 3, b"a", b"b") != evidence_key("o", 3, b"b", b"a")


def test_local_concurrent_puts_of_one_key_store_one_object(tmp_path: Path) -> None:
    archive = LocalArchive(tmp_path)
    barrier = threading.Barrier(8)

    def put(i: int) -> bool:
        barrier.wait()
        return archive.put(KEY, f"data {i}".encode())

    with ThreadPoolExecutor(8) as pool:
        written = list(pool.map(put, range(8)))
    assert written.count(True) == 1
    assert archive.path_of(KEY).read_bytes() == f"data {written.index(True)}".encode()


def test_local_archive_refuses_an_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError, match="not writable"):
        LocalArchive(blocker / "archive")


# -- S3 ------------------------------------------------------------------------------------------
@pytest.fixture
def s3(moto_url: str) -> Iterator[S3Client]:
    client = s3server.client(moto_url)
    yield client
    client.close()


_buckets = iter(range(1_000_000))


def _bucket(s3: S3Client, lock: bool = True, versioning: bool = True) -> str:
    return s3server.make_bucket(s3, f"archive-{next(_buckets)}", lock, versioning)


def test_s3_refuses_a_bucket_without_versioning_or_object_lock(s3: S3Client) -> None:
    for bucket, problem in ((_bucket(s3, lock=False, versioning=False), "versioning"),
                            (_bucket(s3, lock=False, versioning=True), "Object Lock")):
        with pytest.raises(StorageError, match=problem):
            S3Archive(s3, bucket, retention_days=1).check()
    S3Archive(s3, _bucket(s3), retention_days=1).check()


def test_s3_connect_checks_and_probes_the_bucket(s3: S3Client, moto_url: str, seaweed_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3server.CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(StorageError, match="versioning"):
        S3Archive.connect(_bucket(s3, lock=False, versioning=False), 1, endpoint_url=moto_url)
    # moto stores the lock settings but lets a COMPLIANCE retention be shortened: refused.
    with pytest.raises(StorageError, match="cannot be shortened"):
        S3Archive.connect(_bucket(s3), 1, endpoint_url=moto_url)
    for name, value in seaweedfs.CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    real = seaweedfs.client(seaweed_url)
    archive = S3Archive.connect(seaweedfs.make_bucket(real, "archive"), 1, endpoint_url=seaweed_url)
    assert archive.put(KEY, b"cosigned note\n") is True
    archive.close()
    real.close()


def test_s3_put_locks_in_compliance_mode_and_a_locked_version_cannot_be_deleted(
    s3: S3Client,
) -> None:
    bucket = _bucket(s3)
    archive = S3Archive(s3, bucket, retention_days=30, prefix="w1/")
    assert archive.put(KEY, b"cosigned note\n") is True
    head = s3.head_object(Bucket=bucket, Key="w1/" + KEY)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    want = datetime.now(UTC) + timedelta(days=30)
    assert abs(head["ObjectLockRetainUntilDate"] - want) < timedelta(seconds=2)
    with pytest.raises(ClientError) as info:
        s3.delete_object(Bucket=bucket, Key="w1/" + KEY, VersionId=head["VersionId"])
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError):
        s3.delete_object(Bucket=bucket, Key="w1/" + KEY, VersionId=head["VersionId"],
                         BypassGovernanceRetention=True)
    body = s3.get_object(Bucket=bucket, Key="w1/" + KEY, VersionId=head["VersionId"])["Body"]
    with body:
        assert body.read() == b"cosigned note\n"
    # A second put of the key is refused by S3 itself (If-None-Match) and changes nothing, even
    # with other bytes (evidence keys name the contradiction, not the proof that came with it).
    assert archive.put(KEY, b"cosigned note\n") is False
    assert archive.put(KEY, b"other bytes\n") is False
    assert s3server.all_keys(s3, bucket) == ["w1/" + KEY]


class FlakyClient:
    """A real S3 client whose first ``failures`` puts fail with ``error``."""

    def __init__(self, real: S3Client, failures: int, error: Exception) -> None:
        self._real, self.failures, self._error = real, failures, error
        self.puts = 0

    def put_object(self, **kwargs: Any) -> Any:
        self.puts += 1
        if self.failures:
            self.failures -= 1
            raise self._error
        return self._real.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _client_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code},
                     "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PutObject")


@pytest.mark.parametrize("error", [
    _client_error("SlowDown", 503),
    _client_error("InternalError", 500),
    EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
])
def test_s3_retries_transient_errors_with_backoff(s3: S3Client, error: Exception) -> None:
    bucket = _bucket(s3)
    flaky = FlakyClient(s3, 2, error)
    sleeps: list[float] = []
    archive = S3Archive(cast("S3Client", flaky), bucket, 1, backoff_s=0.1, sleep=sleeps.append)
    assert archive.put(KEY, b"x") is True
    assert flaky.puts == 3 and len(sleeps) == 2
    assert 0.05 <= sleeps[0] <= 0.1 and 0.1 <= sleeps[1] <= 0.2


def test_s3_gives_up_after_max_attempts_and_at_once_on_refusals(s3: S3Client) -> None:
    bucket = _bucket(s3)
    flaky = FlakyClient(s3, 10, _client_error("SlowDown", 503))
    archive = S3Archive(cast("S3Client", flaky), bucket, 1, max_attempts=3, sleep=lambda _: None)
    with pytest.raises(StorageError, match="failed 3 times"):
        archive.put(KEY, b"x")
    denied = FlakyClient(s3, 1, _client_error("AccessDenied", 403))
    archive = S3Archive(cast("S3Client", denied), bucket, 1, sleep=lambda _: None)
    with pytest.raises(StorageError, match="refused"):
        archive.put(KEY, b"x")
    assert denied.puts == 1
    assert s3server.all_keys(s3, bucket) == []


class UnlockedHead(FlakyClient):
    def head_object(self, **kwargs: Any) -> Any:
        return {**self._real.head_object(**kwargs), "ObjectLockMode": "GOVERNANCE"}


def test_s3_an_object_read_back_without_compliance_lock_is_an_error(s3: S3Client) -> None:
    archive = S3Archive(cast("S3Client", UnlockedHead(s3, 0, Exception())), _bucket(s3), 1)
    with pytest.raises(CorruptionError, match="want COMPLIANCE"):
        archive.put(KEY, b"x")


def test_s3_archive_holds_exactly_the_checkpoints_cosigned(s3: S3Client, tmp_path: Path) -> None:
    bucket = _bucket(s3)
    clock = FakeClock(time.time())
    archive = S3Archive(s3, bucket, retention_days=1, clock=clock)
    log = TestLog()
    witness = make_witness(tmp_path, [log], archive, clock)
    cosigned: set[str] = set()

    def send(body: bytes, note: bytes) -> None:
        try:
            line = witness.add_checkpoint(body)
        except Exception:
            return
        full = add_signatures(note, line)
        cosigned.add(cosigned_key(log.origin, int(note.split(b"\n")[1]), full))

    for old, size in ((0, 2), (0, 5), (2, 5), (5, 3), (5, 9), (9, 9)):
        note = log.checkpoint(size)
        send(log.body(old, size, note=note, proof=log.proof(old, size) if old <= size else ()),
             note)
    clock.t += 3600
    send(log.body(9, 9), log.checkpoint(9))
    assert len(cosigned) == 4  # 0->2, 2->5, 5->9, and 9->9 after refresh_s; 9->9 at once reused
    assert s3server.all_keys(s3, bucket) == sorted(cosigned)
    for key in cosigned:
        assert s3.head_object(Bucket=bucket, Key=key)["ObjectLockMode"] == "COMPLIANCE"
