"""Reading the state of objects in a :class:`~common.s3.LockedBucket`, and S3 legal holds
(docs/retention.md): what the log's retention pass (server/retention.py) and its legal holds
(server/holds.py) ask of the bucket.

* :func:`stat`: HEAD an object: its size, the SHA-256 our writer put in its metadata, its lock
  and when it was written.
* :func:`set_legal_hold` / :func:`legal_hold`: ``PutObjectLegalHold`` ON or OFF on the current
  version, and read it back. A held version cannot be deleted, whatever its retain-until date;
  the hold is independent of COMPLIANCE retention and lasts until it is set OFF.

Failures are :class:`~common.s3.S3Error`, translated as the rest of ``common.s3`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from auditlog_tlog.common.s3 import LockedBucket, error_code, translate


@dataclass(frozen=True, slots=True)
class Stored:
    """What a HEAD says of an object: its size, the SHA-256 we wrote in its metadata ("" if
    none), its lock, and when it was written."""

    length: int
    sha256: str
    mode: str
    retain_until: datetime | None
    last_modified: datetime


def stat(bucket: LockedBucket, name: str) -> Stored | None:
    """The current version of ``prefix + name`` as a HEAD sees it, or None if there is none."""
    key = bucket.prefix + name
    try:
        head = bucket.client.head_object(Bucket=bucket.bucket, Key=key)
    except ClientError as exc:
        if error_code(exc)[1] == 404:
            return None
        raise translate(exc, f"S3 head of {key}") from exc
    except BotoCoreError as exc:
        raise translate(exc, f"S3 head of {key}") from exc
    return Stored(int(head.get("ContentLength") or 0), head.get("Metadata", {}).get("sha256", ""),
                  str(head.get("ObjectLockMode") or ""), head.get("ObjectLockRetainUntilDate"),
                  head["LastModified"])


def set_legal_hold(bucket: LockedBucket, name: str, on: bool) -> None:
    """Place (``on``) or release the legal hold of ``prefix + name`` (its current version)."""
    key = bucket.prefix + name
    try:
        bucket.client.put_object_legal_hold(
            Bucket=bucket.bucket, Key=key, LegalHold={"Status": "ON" if on else "OFF"})
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, f"S3 legal hold of {key}") from exc


def legal_hold(bucket: LockedBucket, name: str) -> bool:
    """Whether ``prefix + name`` (its current version) is under a legal hold."""
    key = bucket.prefix + name
    try:
        hold = bucket.client.get_object_legal_hold(Bucket=bucket.bucket, Key=key)
    except ClientError as exc:
        if error_code(exc)[0] in ("NoSuchObjectLockConfiguration", "NoSuchObjectLegalHold"):
            return False  # never held (SeaweedFS says the latter)
        raise translate(exc, f"S3 legal hold of {key}") from exc
    except BotoCoreError as exc:
        raise translate(exc, f"S3 legal hold of {key}") from exc
    return hold.get("LegalHold", {}).get("Status") == "ON"
