"""``auditlog bucket init`` (client/bucket.py), the real console script against a real store
(SeaweedFS), a store that lets a retention be shortened (moto_server) and a lying proxy."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests import seaweedfs
from tests.s3double import lying_store
from tests.servers import AUDITLOG
from tests.witness import s3server

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _init(url: str, bucket: str, days: int, credentials: dict[str, str],
          *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUDITLOG, "bucket", "init", "--endpoint", url, "--bucket", bucket,
         "--retention-days", str(days), "--region", "us-east-1", *extra],
        capture_output=True, text=True, timeout=60, env={**os.environ, **credentials},
    )


@pytest.fixture
def s3(seaweed_url: str) -> Iterator[S3Client]:
    client = seaweedfs.client(seaweed_url)
    yield client
    client.close()


def test_init_creates_a_compliant_bucket_and_checks_it_again(s3: S3Client, seaweed_url: str) -> None:
    name = f"init-{os.getpid()}"
    done = _init(seaweed_url, name, 7, seaweedfs.CREDENTIALS)
    assert done.returncode == 0, done.stderr
    assert "created bucket" in done.stdout and "is compliant" in done.stdout
    lock = s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
    assert lock["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 7}
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    again = _init(seaweed_url, name, 7, seaweedfs.CREDENTIALS, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"bucket": name, "changed": [], "compliant": True}


def test_init_brings_an_existing_bucket_to_object_lock(s3: S3Client, seaweed_url: str) -> None:
    name = seaweedfs.make_bucket(s3, "plain", lock=False, versioning=False)
    done = _init(seaweed_url, name, 3, seaweedfs.CREDENTIALS)
    assert done.returncode == 0, done.stderr
    assert "enabled versioning" in done.stdout and "default retention" in done.stdout


def test_init_refuses_stores_that_do_not_enforce_the_lock(
    seaweed_url: str, moto_url: str
) -> None:
    with lying_store(seaweed_url, "retention") as url:
        done = _init(url, f"liar-{os.getpid()}", 1, seaweedfs.CREDENTIALS)
    assert done.returncode == 1
    assert "a COMPLIANCE retention cannot be shortened" in done.stderr, done.stderr
    done = _init(moto_url, "moto-init", 1, s3server.CREDENTIALS)
    assert done.returncode == 1 and "cannot be shortened" in done.stderr, done.stderr
    done = _init(seaweed_url, "x", 0, seaweedfs.CREDENTIALS)
    assert done.returncode == 1 and "want 1..36500" in done.stderr
