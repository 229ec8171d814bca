"""The S3 half of publication in worker processes (docs/publication.md, "Throughput").

boto3 spends milliseconds of CPU on each request (signing, checksums, parsing), under Python's
GIL: from the server's process, publication stops at about one core's worth of requests and takes
that core from the append path. With ``processes = N`` in ``[log.publish]``, the publisher
(server/publisher.py) still reads every object from the database, decides the order and waits for
every tile and bundle before the round's history object and checkpoint; it hands runs of objects
to N processes (spawned: each reads the credentials the usual boto3 way from the environment it
inherits), each of which writes them with :meth:`common.s3.LockedBucket.put_once` from its own
threads, exactly as the publisher's threads would. The retain-until date is the publisher's (its
injected clock), passed with every run. A failure comes back as a value (an ``S3Error`` does
not survive pickling) and is raised again in the publisher.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from auditlog_tlog.common.s3 import Failure, Guarantee, LockedBucket, S3Error, connect, retrying


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """How a worker process opens the log's bucket."""

    endpoint_url: str
    region: str
    timeout_s: float
    bucket: str
    retention_days: int
    prefix: str
    threads: int
    max_attempts: int


@dataclass(frozen=True, slots=True)
class PutResult:
    """One object: whether this put wrote it, the retries it took, or why it failed."""

    written: bool
    retries: int
    failure: Failure | None = None
    message: str = ""
    guarantee: Guarantee | None = None

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise S3Error(self.failure, self.message, self.guarantee)


_STATE: dict[str, tuple[LockedBucket, ThreadPoolExecutor]] = {}


def open_worker_bucket(spec: BucketSpec) -> None:
    """The initializer of a worker process: its own client and threads."""
    client = connect(spec.endpoint_url, spec.region, spec.timeout_s, max_pool=spec.threads + 2)
    bucket = LockedBucket(client, spec.bucket, spec.retention_days, spec.prefix)
    _STATE["bucket"] = (bucket, ThreadPoolExecutor(spec.threads, thread_name_prefix="put"))


def ready() -> bool:
    """A first task, to start a process (and open its bucket) before the first round."""
    return "bucket" in _STATE


def put_many(objects: list[tuple[str, bytes, bool]], until: datetime,
             max_attempts: int) -> list[PutResult]:
    """Write ``(name, data, confirm)`` objects once each, concurrently (``put_once``)."""
    bucket, pool = _STATE["bucket"]

    def one(name: str, data: bytes, confirm: bool) -> PutResult:
        retries = 0

        def retried() -> None:
            nonlocal retries
            retries += 1

        try:
            written = retrying(lambda: bucket.put_once(name, data, confirm=confirm, until=until),
                               f"S3 put of {bucket.prefix}{name}", max_attempts,
                               on_retry=retried)
        except S3Error as exc:
            return PutResult(False, retries, exc.kind, str(exc), exc.guarantee)
        return PutResult(written, retries)

    return list(pool.map(lambda o: one(*o), objects))
