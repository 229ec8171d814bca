"""Write-once objects in an S3 bucket with Object Lock (docs/publication.md and
the witness archive), for any S3 API (AWS, MinIO, Ceph RGW, SeaweedFS) through boto3. The witness's
archive (witness/s3archive.py) and the log's publication (server/publisher.py) both use it.

* :meth:`LockedBucket.check`: versioning ``Enabled`` and Object Lock ``Enabled``.
* :meth:`LockedBucket.probe`: do not trust the settings, try them. A canary object
  ``<prefix>.canary/<unix time>-<random>`` is written with COMPLIANCE retention for
  ``CANARY_RETENTION``; then the probe tries what the lock must refuse: to write the key again
  with ``If-None-Match: *``, to delete the version, to shorten its retention and to downgrade it
  to GOVERNANCE. Each must be refused, and the version must still be there, locked as asked.
  Some servers accept the headers and enforce nothing (seaweedfs/seaweedfs #7194, #11333;
  moto); the probe names the :class:`Guarantee` such a bucket broke.
* ``common.s3bucket.prepare_bucket`` (``auditlog bucket init``): create the bucket with Object
  Lock, or bring an existing one to versioning, Object Lock and a COMPLIANCE default retention.
* :meth:`LockedBucket.put_once`: ``If-None-Match: *``, ``ObjectLockMode=COMPLIANCE``, a
  retain-until date ``retention_days`` from the clock, a SHA-256 checksum (computed once, sent
  for the store to verify), then HEAD to confirm the lock (or, with ``confirm=False``, the
  version id and checksum of the PUT's answer). A 412 means the key is taken: with
  ``same=True`` the stored object must be the one we meant to write (a different one is
  :attr:`Failure.DIFFERENT`); either way it must be locked.
* :meth:`LockedBucket.put_version`: for the one mutable object (a log's ``checkpoint``): a new
  version, locked COMPLIANCE like every other; versions are never deleted.

``common.s3holds`` reads an object's state (HEAD) and sets S3 legal holds.

Failures are :class:`S3Error` with a :class:`Failure` kind; the callers translate them once into
the tree's exceptions (``StorageError``, ``CorruptionError``), since this package imports none of
ours. :func:`retrying` retries :attr:`Failure.TRANSIENT` ones (connection errors, 5xx,
``SlowDown``, a 409 conditional-write conflict, a HEAD that does not see the object yet) with
exponential backoff and jitter; botocore's own retries are off so that loop is the only one.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("auditlog.s3")
T = TypeVar("T")
CANARY_RETENTION: Final = timedelta(days=1)
MAX_GET_BYTES: Final = 64 * 1024 * 1024
_TRANSIENT_CODES: Final = frozenset({
    "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "503",
    "ConditionalRequestConflict", "OperationAborted", "RequestTimeTooSkewed", "404", "NoSuchKey",
})


class Guarantee(Enum):
    """What a bucket must do for write-once storage; the probe names the one it broke."""

    VERSIONING = "versioning is enabled"
    OBJECT_LOCK = "Object Lock is enabled"
    LOCK_ON_PUT = "an object put with COMPLIANCE retention is stored locked"
    NO_OVERWRITE = "a put with If-None-Match: * does not replace an object"
    NO_DELETE = "a locked version cannot be deleted"
    NO_SHORTEN = "a COMPLIANCE retention cannot be shortened"
    NO_DOWNGRADE = "a COMPLIANCE retention cannot be changed to GOVERNANCE"
    RETENTION = "the bucket's default retention is at least the log's retention"


class Failure(Enum):
    TRANSIENT = "transient"    # worth retrying
    REFUSED = "refused"        # the store said no (credentials, no such bucket, bad request)
    BROKEN = "broken"          # the bucket breaks a Guarantee
    NOT_LOCKED = "not locked"  # an object read back without the lock asked for
    DIFFERENT = "different"    # a write-once key holds another object than ours


class S3Error(Exception):
    def __init__(self, kind: Failure, message: str, guarantee: Guarantee | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.guarantee = guarantee


def connect(endpoint_url: str = "", region: str = "", timeout_s: float = 10.0,
            max_pool: int = 10) -> S3Client:
    """A boto3 S3 client (credentials from boto3's usual chain), without botocore retries."""
    config = Config(
        connect_timeout=timeout_s, read_timeout=timeout_s, max_pool_connections=max_pool,
        retries={"max_attempts": 1, "mode": "standard"},
    )
    # A session of its own: boto3's default session caches the credentials it resolved first.
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config
    )


def error_code(exc: ClientError) -> tuple[str, int]:
    error: Any = exc.response.get("Error", {})
    status: Any = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(error.get("Code", "")), int(status or 0)


def translate(exc: Exception, what: str) -> S3Error:
    """A boto3/botocore failure as an :class:`S3Error` of the right kind."""
    if isinstance(exc, ClientError):
        code, status = error_code(exc)
        if status >= 500 or code in _TRANSIENT_CODES:
            return S3Error(Failure.TRANSIENT, f"{what}: {exc}")
        return S3Error(Failure.REFUSED, f"{what} refused: {exc}")
    if isinstance(exc, ConnectionError | HTTPClientError):
        return S3Error(Failure.TRANSIENT, f"{what}: {exc}")
    return S3Error(Failure.REFUSED, f"{what} failed: {exc}")


def _is_412(exc: ClientError) -> bool:
    code, status = error_code(exc)
    return code == "PreconditionFailed" or status == 412


def retrying(op: Callable[[], T], what: str, max_attempts: int = 5, backoff_s: float = 0.2,
             sleep: Callable[[float], None] = time.sleep,
             on_retry: Callable[[], None] | None = None) -> T:
    """Run ``op``, retrying transient failures with exponential backoff and jitter."""
    for attempt in range(1, max_attempts + 1):
        try:
            return op()
        except S3Error as exc:
            if exc.kind is not Failure.TRANSIENT:
                raise
            if attempt == max_attempts:
                raise S3Error(Failure.TRANSIENT,
                              f"{what} failed {attempt} times, last: {exc}") from None
            delay = backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
            log.warning("%s: %s; retrying in %.2f s", what, exc, delay)
            if on_retry is not None:
                on_retry()
            sleep(delay)
    raise AssertionError("unreachable")


def default_days(lock_configuration: Any) -> int:
    """The default retention of an ``ObjectLockConfiguration`` in days (a year is 365)."""
    default = lock_configuration.get("Rule", {}).get("DefaultRetention", {})
    return int(default.get("Days") or 0) + 365 * int(default.get("Years") or 0)


class LockedBucket:
    """Objects under ``prefix`` in ``bucket``, each locked in COMPLIANCE mode when written."""

    def __init__(self, client: S3Client, bucket: str, retention_days: int, prefix: str = "",
                 now: Callable[[], float] = time.time) -> None:
        if not 1 <= retention_days <= 36500:
            raise ValueError(f"retention_days: got {retention_days}, want 1..36500")
        if prefix and not prefix.endswith("/"):
            raise ValueError(f"key prefix {prefix!r}: want '' or a prefix ending in '/'")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.retention = timedelta(days=retention_days)
        self._now = now

    def retain_until(self) -> datetime:
        return datetime.fromtimestamp(int(self._now()), UTC) + self.retention

    # -- the bucket ------------------------------------------------------------------------------
    def check(self) -> None:
        """Refuse a bucket without versioning or without Object Lock (:attr:`Failure.BROKEN`)."""
        try:
            versioning = self.client.get_bucket_versioning(Bucket=self.bucket)
            try:
                lock = self.client.get_object_lock_configuration(Bucket=self.bucket).get(
                    "ObjectLockConfiguration", {})
            except ClientError as exc:
                if error_code(exc)[0] != "ObjectLockConfigurationNotFoundError":
                    raise
                lock = {}
            enabled = lock.get("ObjectLockEnabled")
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"S3 bucket {self.bucket}: reading its settings") from exc
        if versioning.get("Status") != "Enabled":
            raise S3Error(Failure.BROKEN, (
                f"S3 bucket {self.bucket}: versioning is {versioning.get('Status', 'off')}, want "
                "Enabled; refusing a bucket whose objects can be replaced"), Guarantee.VERSIONING)
        if enabled != "Enabled":
            raise S3Error(Failure.BROKEN, (
                f"S3 bucket {self.bucket}: Object Lock is not enabled; create the bucket with "
                "Object Lock, refusing a bucket where objects can be deleted"), Guarantee.OBJECT_LOCK)
        days = default_days(lock)
        if 0 < days < self.retention.days:
            raise S3Error(Failure.BROKEN, (
                f"S3 bucket {self.bucket}: its default retention is {days} days, shorter than the "
                f"log's retention_days of {self.retention.days}; raise it with 'auditlog bucket "
                f"init --retention-days {self.retention.days}' or lower retention_days"),
                Guarantee.RETENTION)

    def probe(self) -> None:
        """Write a locked canary and try to break its lock; every attempt must be refused."""
        key = f"{self.prefix}.canary/{int(self._now())}-{secrets.token_hex(8)}"
        until = datetime.fromtimestamp(int(self._now()), UTC) + CANARY_RETENTION
        body = b"auditlog canary: this version must outlive every attempt to remove it\n"
        try:
            put = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*",
                ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"S3 bucket {self.bucket}: writing the canary {key}") from exc
        version = put.get("VersionId") or ""
        if not version or version == "null":
            self._broken(Guarantee.VERSIONING, key, "the put returned no version id")
        self._check_canary(key, version, until, Guarantee.LOCK_ON_PUT)
        attempts: list[tuple[Guarantee, Callable[[], object]]] = [
            (Guarantee.NO_OVERWRITE, lambda: self.client.put_object(
                Bucket=self.bucket, Key=key, Body=b"overwritten\n", IfNoneMatch="*")),
            (Guarantee.NO_DELETE, lambda: self.client.delete_object(
                Bucket=self.bucket, Key=key, VersionId=version, BypassGovernanceRetention=True)),
            (Guarantee.NO_SHORTEN, lambda: self.client.put_object_retention(
                Bucket=self.bucket, Key=key, VersionId=version, BypassGovernanceRetention=True,
                Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until - timedelta(hours=12)})),
            (Guarantee.NO_DOWNGRADE, lambda: self.client.put_object_retention(
                Bucket=self.bucket, Key=key, VersionId=version, BypassGovernanceRetention=True,
                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})),
        ]
        for guarantee, attempt in attempts:
            try:
                attempt()
            except ClientError as exc:
                if error_code(exc)[1] >= 500:
                    raise translate(exc, f"S3 bucket {self.bucket}: probing") from exc
                continue  # refused, as it must be
            except BotoCoreError as exc:
                raise translate(exc, f"S3 bucket {self.bucket}: probing") from exc
            self._broken(guarantee, key, "the store accepted the attempt")
        self._check_canary(key, version, until, Guarantee.NO_DELETE)

    def _check_canary(self, key: str, version: str, until: datetime, guarantee: Guarantee) -> None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key, VersionId=version)
        except ClientError as exc:
            if error_code(exc)[1] == 404:
                self._broken(guarantee, key, "the canary version is gone")
            raise translate(exc, f"S3 bucket {self.bucket}: reading the canary") from exc
        mode, retained = head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")
        if mode != "COMPLIANCE":
            self._broken(guarantee, key, f"the canary's lock mode is {mode}, want COMPLIANCE")
        if retained is None or retained < until - timedelta(seconds=1):
            shown = retained.isoformat() if retained is not None else "no date"
            self._broken(Guarantee.NO_SHORTEN if retained else guarantee, key,
                         f"the canary is retained until {shown}, want {until.isoformat()}")

    def _broken(self, guarantee: Guarantee, key: str, detail: str) -> None:
        raise S3Error(Failure.BROKEN, (
            f"S3 bucket {self.bucket} does not enforce Object Lock: the guarantee that "
            f"{guarantee.value} failed on the canary {key} ({detail}); refusing to use it"),
            guarantee)

    # -- objects ---------------------------------------------------------------------------------
    def put_once(self, name: str, data: bytes, same: bool = True, confirm: bool = True,
                 until: datetime | None = None) -> bool:
        """Write ``prefix + name`` unless it exists; returns whether this call wrote it.

        With ``confirm`` the object is read back (HEAD): locked COMPLIANCE until at least the
        date asked, with our SHA-256 and length. Without it, the PUT's answer must carry a
        version id and, if the store echoes it, the SHA-256 checksum it verified against the
        body (a store that cannot verify it refuses the PUT); the lock is then the bucket's
        (:meth:`probe`, and its COMPLIANCE default retention) — docs/publication.md.
        ``until`` is the retain-until date (default :meth:`retain_until`).
        """
        key = self.prefix + name
        raw = hashlib.sha256(data).digest()
        digest, checksum = raw.hex(), base64.b64encode(raw).decode()
        until = until or self.retain_until()
        try:
            try:
                # The checksum given, botocore computes none of its own; the algorithm's header
                # (x-amz-sdk-checksum-algorithm) is what S3 requires on an Object Lock put.
                put = self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*",
                    ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until,
                    ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum,
                    Metadata={"sha256": digest},
                )
            except ClientError as exc:
                if not _is_412(exc):
                    raise
                self._verify_taken(key, data, digest, same)
                return False
            if not confirm:
                self._check_put(key, put, checksum)
                return True
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"S3 put of {key}") from exc
        self._verify(key, head, until)
        if head.get("Metadata", {}).get("sha256") != digest or head.get("ContentLength") != len(data):
            raise S3Error(Failure.NOT_LOCKED,
                          f"S3 object {key} in {self.bucket}: its content is not what was written")
        return True

    def _check_put(self, key: str, put: Any, checksum: str) -> None:
        """The answer to a PUT that is not read back: a new version, of our bytes."""
        version = put.get("VersionId") or ""
        if not version or version == "null":
            raise S3Error(Failure.BROKEN, f"S3 put of {key}: no version id, want a versioned "
                          "bucket", Guarantee.VERSIONING)
        echoed = put.get("ChecksumSHA256")
        if echoed is not None and echoed != checksum:
            raise S3Error(Failure.NOT_LOCKED, f"S3 object {key} in {self.bucket}: stored with "
                          f"SHA-256 {echoed}, want {checksum} (what was written)")

    def put_version(self, name: str, data: bytes) -> str:
        """Write a new locked version of the mutable object ``prefix + name``; its version id."""
        key = self.prefix + name
        until = self.retain_until()
        raw = hashlib.sha256(data).digest()
        try:
            put = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ObjectLockMode="COMPLIANCE",
                ObjectLockRetainUntilDate=until, ChecksumAlgorithm="SHA256",
                ChecksumSHA256=base64.b64encode(raw).decode(),
                Metadata={"sha256": raw.hex()},
            )
            version = put.get("VersionId") or ""
            if not version or version == "null":
                raise S3Error(Failure.BROKEN, f"S3 put of {key}: no version id, want a versioned "
                              "bucket", Guarantee.VERSIONING)
            head = self.client.head_object(Bucket=self.bucket, Key=key, VersionId=version)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"S3 put of {key}") from exc
        self._verify(key, head, until)
        return version

    def get(self, name: str, limit: int = MAX_GET_BYTES) -> bytes | None:
        """The current version of ``prefix + name``, or None if there is none."""
        key = self.prefix + name
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            with body:
                data = body.read(limit + 1)
        except ClientError as exc:
            if error_code(exc)[0] in ("NoSuchKey", "404"):
                return None
            raise translate(exc, f"S3 get of {key}") from exc
        except BotoCoreError as exc:
            raise translate(exc, f"S3 get of {key}") from exc
        if len(data) > limit:
            raise S3Error(Failure.REFUSED, f"S3 object {key}: more than {limit} bytes, want less")
        return data

    def _verify_taken(self, key: str, data: bytes, digest: str, same: bool) -> None:
        """A 412: the key holds an object. It must be locked, and ours if ``same``."""
        head = self.client.head_object(Bucket=self.bucket, Key=key)
        self._verify(key, head, None)
        if not same:
            return
        if head.get("Metadata", {}).get("sha256") == digest and head.get("ContentLength") == len(data):
            return
        stored = self.get(key.removeprefix(self.prefix), max(len(data), 1) * 2)
        if stored != data:
            raise S3Error(Failure.DIFFERENT, (
                f"S3 object {key} in {self.bucket} holds {len(stored or b'')} bytes with SHA-256 "
                f"{hashlib.sha256(stored or b'').hexdigest()}, want the {len(data)} bytes with "
                f"SHA-256 {digest} this log wrote there"))

    def _verify(self, key: str, head: Any, until: datetime | None) -> None:
        mode, retained = head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")
        problems = []
        if mode != "COMPLIANCE":
            problems.append(f"lock mode {mode}, want COMPLIANCE")
        if retained is None:
            problems.append("no retain-until date")
        elif until is not None and retained < until - timedelta(seconds=1):
            problems.append(f"retained until {retained.isoformat()}, want {until.isoformat()}")
        if problems:
            raise S3Error(Failure.NOT_LOCKED, f"S3 object {key} in {self.bucket}: " + "; ".join(problems))
