"""The S3 adapter of ``client.tiles_source``: tlog-tiles objects under ``s3://BUCKET/PREFIX``.

boto3 finds the credentials the usual way (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, instance roles); the endpoint is ``--s3-endpoint`` or ``$AWS_ENDPOINT_URL`` for
an S3-compatible store (MinIO, Ceph RGW, SeaweedFS), else AWS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
import botocore.config
import botocore.exceptions

from auditlog_tlog.tree.errors import NotFoundError, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3Fetcher:
    """GetObject and ListObjectsV2 under ``s3://bucket/prefix``."""

    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None = None,
                 client: S3Client | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        config = botocore.config.Config(max_pool_connections=64)  # one per fetching thread
        # A session of its own: boto3's default session keeps the credentials it resolved first.
        self._s3: S3Client = client or boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, config=config)

    def _key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def where(self, path: str) -> str:
        return f"s3://{self.bucket}/{self._key(path)}"

    def get(self, path: str, limit: int) -> bytes:
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=self._key(path))
            body: bytes = response["Body"].read(limit + 1)
            response["Body"].close()
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise NotFoundError(f"{self.where(path)}: no such object") from None
            raise StorageError(f"{self.where(path)}: {code or exc}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise StorageError(f"{self.where(path)}: {exc}") from None
        if len(body) > limit:
            raise StorageError(f"{self.where(path)}: larger than {limit} bytes, want at most {limit}")
        return body

    def list(self, prefix: str) -> list[str] | None:
        names: list[str] = []
        start = self._key(prefix)
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=start):
                names += [o["Key"][len(start) - len(prefix):] for o in page.get("Contents", [])]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise StorageError(f"s3://{self.bucket}/{start}: cannot list: {exc}") from None
        return sorted(names)
