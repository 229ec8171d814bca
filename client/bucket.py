"""``auditlog bucket init``: create or check a bucket fit for write-once records
(docs/publication.md): versioning, Object Lock, a COMPLIANCE default retention,
and the canary probe of ``common.s3`` that proves the store enforces the lock. The same checks
run when a log server or a witness starts; this command is the infrastructure step before.

Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, instance roles).
"""

from __future__ import annotations

import argparse
import json

from auditlog_tlog.common.s3 import Failure, LockedBucket, S3Error, connect, retrying
from auditlog_tlog.common.s3bucket import prepare_bucket
from auditlog_tlog.tree.errors import CorruptionError, StorageError


def add_bucket(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bucket_command", required=True, metavar="ACTION",
                                help="init: create or check a compliant bucket")
    p = sub.add_parser("init", help="create or check a compliant bucket (versioning, Object Lock, "
                       "COMPLIANCE default retention, canary probe)")
    p.add_argument("--endpoint", default="", help="S3 endpoint URL (default: AWS)")
    p.add_argument("--bucket", required=True, help="bucket name")
    p.add_argument("--retention-days", dest="retention_days", type=int, required=True,
                   help="COMPLIANCE default retention, in days (1..36500)")
    p.add_argument("--region", default="", help="S3 region (default: boto3's)")
    p.add_argument("--prefix", default="", help="where the canary goes ('' or ending in '/')")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(handler=cmd_bucket_init)


def cmd_bucket_init(args: argparse.Namespace) -> int:
    if not 1 <= args.retention_days <= 36500:
        raise ValueError(f"--retention-days {args.retention_days}: want 1..36500")
    client = connect(args.endpoint, args.region)
    try:
        bucket = LockedBucket(client, args.bucket, args.retention_days, args.prefix)
        changed = prepare_bucket(client, args.bucket, args.retention_days, args.region)
        bucket.check()
        retrying(bucket.probe, f"probing S3 bucket {args.bucket}")
    except S3Error as exc:
        if exc.kind in (Failure.NOT_LOCKED, Failure.DIFFERENT):
            raise CorruptionError(str(exc)) from exc
        raise StorageError(str(exc)) from exc
    finally:
        client.close()
    if args.json:
        print(json.dumps({"bucket": args.bucket, "changed": changed, "compliant": True}))
        return 0
    for line in changed:
        print(f"auditlog bucket init: {line}")
    print(f"auditlog bucket init: {args.bucket} is compliant: versioning and Object Lock enabled, "
          f"COMPLIANCE default retention >= {args.retention_days} days, and the canary probe "
          "could neither overwrite, delete, shorten nor downgrade a locked object")
    return 0
