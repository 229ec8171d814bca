"""The S3 Object Lock archive (the README, "For witness operators"): any S3 API (AWS, MinIO, Ceph
RGW, SeaweedFS), through the shared write-once bucket of ``common.s3``.

* Start-up (:meth:`S3Archive.connect`): the bucket must have versioning ``Enabled`` and an
  Object Lock configuration ``Enabled`` (:meth:`S3Archive.check`), and must pass the canary
  probe (:meth:`S3Archive.probe`): a locked object that cannot be overwritten, deleted, or have
  its retention shortened or downgraded. Otherwise the witness refuses to start
  (``StorageError`` naming the guarantee the bucket broke).
* Every put carries ``ObjectLockMode=COMPLIANCE`` and ``ObjectLockRetainUntilDate`` = now +
  ``retention_days``, a SHA-256 checksum, and ``If-None-Match: *``, so S3 itself refuses to
  replace an object (412: someone stored that key first; the key names its content, see
  ``witness.archive``, so the object is ours already). Then the object is read back with HEAD:
  it must be in COMPLIANCE mode, retained until at least the date asked for, with our SHA-256
  in its metadata and our length (an object that was there already must still be locked);
  anything else is a ``CorruptionError`` and the caller does not cosign.
* Transient failures are retried with exponential backoff and jitter, up to ``max_attempts``
  (``common.s3.retrying``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from auditlog_tlog.common.s3 import Failure, LockedBucket, S3Error, connect, retrying
from auditlog_tlog.tree.errors import CorruptionError, StorageError
from auditlog_tlog.witness.archive import check_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from auditlog_tlog.common.clock import Clock


def _translated(exc: S3Error) -> StorageError:
    if exc.kind in (Failure.NOT_LOCKED, Failure.DIFFERENT):
        return CorruptionError(str(exc))
    return StorageError(str(exc))


class S3Archive:
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        retention_days: int,
        prefix: str = "",
        clock: Clock | None = None,
        max_attempts: int = 5,
        backoff_s: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= max_attempts <= 20:
            raise ValueError(f"max_attempts: got {max_attempts}, want 1..20")
        now = clock.now if clock is not None else time.time
        self._bucket = LockedBucket(client, bucket, retention_days, prefix, now)
        self._client = client
        self.bucket = bucket
        self.prefix = prefix
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._sleep = sleep

    @classmethod
    def connect(
        cls, bucket: str, retention_days: int, *, endpoint_url: str = "", region: str = "",
        prefix: str = "", max_attempts: int = 5, timeout_s: float = 10.0,
    ) -> S3Archive:
        """Build the boto3 client (credentials from boto3's usual chain), check and probe the
        bucket."""
        archive = cls(connect(endpoint_url, region, timeout_s), bucket, retention_days, prefix,
                      max_attempts=max_attempts)
        try:
            archive.check()
            archive.probe()
        except StorageError:
            archive.close()
            raise
        return archive

    def close(self) -> None:
        self._client.close()

    def check(self) -> None:
        """Refuse a bucket without versioning and Object Lock (``StorageError``)."""
        try:
            self._bucket.check()
        except S3Error as exc:
            raise _translated(exc) from exc

    def probe(self) -> None:
        """Refuse a bucket that does not enforce the lock (``StorageError``), by a canary."""
        try:
            retrying(self._bucket.probe, f"probing S3 bucket {self.bucket}",
                     self._max_attempts, self._backoff_s, self._sleep)
        except S3Error as exc:
            raise _translated(exc) from exc

    def put(self, key: str, data: bytes) -> bool:
        check_key(key)
        try:
            return retrying(lambda: self._bucket.put_once(key, data, same=False),
                            f"S3 put of {self.prefix + key}", self._max_attempts,
                            self._backoff_s, self._sleep)
        except S3Error as exc:
            raise _translated(exc) from exc
