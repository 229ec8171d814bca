"""The log's bucket as the tree sees it (docs/publication.md, docs/anchors.md): opened, checked
and probed before use (:func:`open_bucket`), its published checkpoint an anchor the local tree
must equal or extend (:class:`BucketAnchor`, :func:`check_published`), and S3 failures turned
into the tree's exceptions in one place (:func:`translated`)."""

from __future__ import annotations

from typing import Final

from auditlog_tlog.common.clock import Clock
from auditlog_tlog.common.s3 import Failure, LockedBucket, S3Error, connect, retrying
from auditlog_tlog.server.log_tables import PublishConfig
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.checkpoint import Checkpoint, parse_checkpoint
from auditlog_tlog.tree.errors import (
    CorruptionError,
    InconsistencyError,
    MalformedError,
    StorageError,
    VerificationError,
)
from auditlog_tlog.tree.note import parse_note
from auditlog_tlog.tree.verify import verify_consistency

MAX_NOTE_BYTES: Final = 1024 * 1024


def translated(exc: S3Error) -> StorageError:
    """The one place S3 failures become the tree's exceptions."""
    if exc.kind in (Failure.NOT_LOCKED, Failure.DIFFERENT):
        return CorruptionError(str(exc))
    return StorageError(str(exc))


def open_bucket(config: PublishConfig, origin: str, clock: Clock) -> LockedBucket:
    """Connect to the configured bucket and check and probe it (``StorageError`` if unfit)."""
    client = connect(config.endpoint_url, config.region, config.timeout_s,
                     max_pool=config.concurrency + 2)
    bucket = LockedBucket(client, config.bucket, config.retention_days,
                          config.prefix or origin + "/", clock.now)
    try:
        bucket.check()
        retrying(bucket.probe, f"probing S3 bucket {config.bucket}", config.max_attempts)
    except S3Error as exc:
        client.close()
        raise translated(exc) from exc
    return bucket


class BucketAnchor:
    """The checkpoint the log last published: an anchor (``server.anchors.Anchor``) the local
    tree must equal or extend. The bucket is read once, at the first :meth:`latest`; after that
    the publisher, the bucket's only writer, tells it each checkpoint it publishes, so the check
    before every signature costs no request."""

    def __init__(self, bucket: LockedBucket) -> None:
        self.bucket = bucket
        self._note: bytes | None = None
        self._read = False

    @property
    def name(self) -> str:
        return f"bucket s3://{self.bucket.bucket}/{self.bucket.prefix}checkpoint"

    def latest(self) -> bytes | None:
        """The signed checkpoint note in the bucket, or None if nothing was published yet."""
        if not self._read:
            try:
                self._note = self.bucket.get("checkpoint", MAX_NOTE_BYTES)
            except S3Error as exc:
                raise translated(exc) from exc
            self._read = True
        return self._note

    def published(self, note: bytes) -> None:
        self._note, self._read = note, True


def check_published(store: LogStore, note: bytes) -> Checkpoint:
    """The checkpoint in ``note`` if the local tree equals or extends it, else CorruptionError."""
    try:
        checkpoint = parse_checkpoint(parse_note(note).text)
    except MalformedError as exc:
        raise CorruptionError(f"the bucket's checkpoint of {store.origin} is malformed: {exc}") from exc
    if checkpoint.origin != store.origin:
        raise CorruptionError(f"the bucket's checkpoint is for {checkpoint.origin!r}, want "
                              f"{store.origin!r}")
    if checkpoint.size > store.size:
        raise CorruptionError(
            f"log {store.origin}: the bucket holds a checkpoint of size {checkpoint.size}, the "
            f"local tree only {store.size} entries; restore from the bucket (auditlog restore), "
            f"do not sign a shorter tree. Bucket's checkpoint:\n{note.decode(errors='replace')}"
        )
    try:
        proof = store.consistency_proof(checkpoint.size, store.size)
        verify_consistency(store.hasher, checkpoint.size, store.size, proof, checkpoint.root,
                           store.root)
    except (VerificationError, InconsistencyError) as exc:
        local = store.checkpoint() or b""
        raise CorruptionError(
            f"log {store.origin}: the local tree (size {store.size}) is not consistent with the "
            f"bucket's checkpoint (size {checkpoint.size}): {exc}. Bucket's:\n"
            f"{note.decode(errors='replace')}Local:\n{local.decode(errors='replace')}"
        ) from exc
    return checkpoint
