"""The S3 Object Lock archive (DESIGN.md, "Witness and archive"): any S3 API (AWS, MinIO, Ceph
RGW), through boto3, which no other module imports.

* Start-up (:meth:`S3Archive.check`): the bucket must have versioning ``Enabled`` and an Object
  Lock configuration ``Enabled``, or the witness refuses to start (``StorageError``).
* Every put carries ``ObjectLockMode=COMPLIANCE`` and ``ObjectLockRetainUntilDate`` = now +
  ``retention_days``, a SHA-256 checksum, and ``If-None-Match: *``, so S3 itself refuses to
  replace an object (412: someone stored that key first; the key names its content, see
  ``witness.archive``, so the object is ours already). Then the object is read back with HEAD:
  it must be in COMPLIANCE mode, retained until at least the date asked for, with our SHA-256
  in its metadata and our length (an object that was there already must still be locked);
  anything else is a ``StorageError`` and the caller does not cosign.
* Transient failures (connection errors, timeouts, 5xx, ``SlowDown``, a 409 conditional-write
  conflict, a HEAD that does not yet see the object) are retried with exponential backoff and
  jitter, up to ``max_attempts``; botocore's own retries are off so that this loop is the only one.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from auditlog_tlog.tree.errors import CorruptionError, StorageError
from auditlog_tlog.witness.archive import check_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from auditlog_tlog.common.clock import Clock

log = logging.getLogger("auditlog.witness.s3")
_TRANSIENT_CODES: Final = frozenset({
    "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "503",
    "ConditionalRequestConflict", "OperationAborted", "RequestTimeTooSkewed", "404", "NoSuchKey",
})


class _Transient(Exception):
    pass


def _code(exc: ClientError) -> tuple[str, int]:
    error: Any = exc.response.get("Error", {})
    status: Any = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(error.get("Code", "")), int(status or 0)


def _is_transient(exc: ClientError) -> bool:
    code, status = _code(exc)
    return status >= 500 or code in _TRANSIENT_CODES


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
        if not 1 <= retention_days <= 36500:
            raise ValueError(f"retention_days: got {retention_days}, want 1..36500")
        if not 1 <= max_attempts <= 20:
            raise ValueError(f"max_attempts: got {max_attempts}, want 1..20")
        if prefix and not prefix.endswith("/"):
            raise ValueError(f"key prefix {prefix!r}: want '' or a prefix ending in '/'")
        self._client = client
        self.bucket = bucket
        self.prefix = prefix
        self._retention = timedelta(days=retention_days)
        self._now = (clock.now if clock is not None else time.time)
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._sleep = sleep

    @classmethod
    def connect(
        cls, bucket: str, retention_days: int, *, endpoint_url: str = "", region: str = "",
        prefix: str = "", max_attempts: int = 5, timeout_s: float = 10.0,
    ) -> S3Archive:
        """Build the boto3 client (credentials from boto3's usual chain) and check the bucket."""
        config = Config(
            connect_timeout=timeout_s, read_timeout=timeout_s,
            retries={"max_attempts": 1, "mode": "standard"},
        )
        client = boto3.client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config
        )
        archive = cls(client, bucket, retention_days, prefix, max_attempts=max_attempts)
        archive.check()
        return archive

    def close(self) -> None:
        self._client.close()

    def check(self) -> None:
        """Refuse a bucket without versioning and Object Lock (``StorageError``)."""
        try:
            versioning = self._client.get_bucket_versioning(Bucket=self.bucket)
            try:
                lock = self._client.get_object_lock_configuration(Bucket=self.bucket)
                enabled = lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
            except ClientError as exc:
                if _code(exc)[0] != "ObjectLockConfigurationNotFoundError":
                    raise
                enabled = None
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"S3 bucket {self.bucket}: cannot read its settings: {exc}") from exc
        if versioning.get("Status") != "Enabled":
            raise StorageError(
                f"S3 bucket {self.bucket}: versioning is {versioning.get('Status', 'off')}, want "
                "Enabled; refusing to archive to a bucket whose objects can be replaced"
            )
        if enabled != "Enabled":
            raise StorageError(
                f"S3 bucket {self.bucket}: Object Lock is not enabled; create the bucket with "
                "Object Lock, refusing to archive where objects can be deleted"
            )

    def put(self, key: str, data: bytes) -> bool:
        check_key(key)
        full = self.prefix + key
        digest = hashlib.sha256(data).hexdigest()
        for attempt in range(1, self._max_attempts + 1):
            try:
                return self._put_once(full, data, digest)
            except _Transient as exc:
                if attempt == self._max_attempts:
                    raise StorageError(
                        f"S3 put of {full} failed {attempt} times, last: {exc}"
                    ) from None
                delay = self._backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
                log.warning("S3 put of %s: %s; retrying in %.2f s", full, exc, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _put_once(self, full: str, data: bytes, digest: str) -> bool:
        until = datetime.fromtimestamp(int(self._now()), UTC) + self._retention
        try:
            try:
                self._client.put_object(
                    Bucket=self.bucket, Key=full, Body=data, IfNoneMatch="*",
                    ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until,
                    ChecksumAlgorithm="SHA256", Metadata={"sha256": digest},
                    ContentType="text/plain; charset=utf-8",
                )
                written = True
            except ClientError as exc:
                code, status = _code(exc)
                if code != "PreconditionFailed" and status != 412:
                    raise
                written = False
            self._verify(full, digest, len(data), until if written else None)
            return written
        except ClientError as exc:
            if _is_transient(exc):
                raise _Transient(str(exc)) from exc
            raise StorageError(f"S3 put of {full} refused: {exc}") from exc
        except (ConnectionError, HTTPClientError) as exc:
            raise _Transient(str(exc)) from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 put of {full} failed: {exc}") from exc

    def _verify(self, full: str, digest: str, length: int, until: datetime | None) -> None:
        head = self._client.head_object(Bucket=self.bucket, Key=full)
        mode = head.get("ObjectLockMode")
        retained = head.get("ObjectLockRetainUntilDate")
        problems = []
        if mode != "COMPLIANCE":
            problems.append(f"lock mode {mode}, want COMPLIANCE")
        if retained is None:
            problems.append("no retain-until date")
        elif until is not None and retained < until - timedelta(seconds=1):
            problems.append(f"retained until {retained.isoformat()}, want {until.isoformat()}")
        written = until is not None  # else the key was taken: the first object stays, as it is
        if written and (head.get("Metadata", {}).get("sha256") != digest
                        or head.get("ContentLength") != length):
            problems.append("its content is not what was archived")
        if problems:
            raise CorruptionError(f"S3 object {full} in {self.bucket}: " + "; ".join(problems))
