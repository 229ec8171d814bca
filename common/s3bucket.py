"""``auditlog bucket init``'s work on S3: create a bucket with Object Lock, or bring an existing
one to versioning ``Enabled``, Object Lock ``Enabled`` and a COMPLIANCE default retention (the
settings :meth:`auditlog_tlog.common.s3.LockedBucket.check` then requires, and its probe tries)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from auditlog_tlog.common.s3 import default_days, error_code, translate

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def prepare_bucket(client: S3Client, bucket: str, retention_days: int, region: str = "") -> list[str]:
    """Create ``bucket`` with Object Lock, or bring an existing one to versioning ``Enabled``,
    Object Lock ``Enabled`` and a COMPLIANCE default retention of at least ``retention_days``.
    Returns what it changed, one line each (empty: the bucket was right already)."""
    done: list[str] = []
    what = f"S3 bucket {bucket}"
    try:
        try:
            client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if error_code(exc)[1] != 404:
                raise
            extra: Any = {}
            if region and region != "us-east-1":
                extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
            client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True, **extra)
            done.append(f"created bucket {bucket} with Object Lock")
        if client.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            done.append("enabled versioning")
        try:
            current: Any = client.get_object_lock_configuration(Bucket=bucket).get(
                "ObjectLockConfiguration", {})
        except ClientError as exc:
            if error_code(exc)[0] != "ObjectLockConfigurationNotFoundError":
                raise
            current = {}
        default = current.get("Rule", {}).get("DefaultRetention", {})
        days = default_days(current)
        if (current.get("ObjectLockEnabled") != "Enabled" or default.get("Mode") != "COMPLIANCE"
                or days < retention_days):
            client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": retention_days}},
            })
            done.append(f"set Object Lock default retention to COMPLIANCE, {retention_days} days")
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, what) from exc
    return done
