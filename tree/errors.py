"""The one exception tree of auditlog.

::

    AuditLogError                  base of everything auditlog raises on purpose
    ├── VerificationError          a proof, root or signature does not check out
    │   └── InconsistencyError     two tree heads that cannot both be true (carries the evidence
    │                              and its ``kind``: a fork or a rollback)
    ├── MalformedError             bytes that are not exactly the canonical encoding
    ├── InvalidRangeError          an index or size outside what exists or is allowed
    ├── NotFoundError              an unknown log, entry, key or checkpoint
    │   └── PrunedError            entries the server no longer keeps (read them from the bucket)
    ├── ConflictError              a state change that lost a race or contradicts stored state
    ├── PushbackError              a queue or quota is full: retry later
    ├── PermissionDeniedError      the caller is known but lacks a role
    ├── UnauthenticatedError       the caller could not be identified
    ├── StorageError               the backing store failed (a retry may succeed)
    │   ├── CorruptionError        stored data is damaged or contradicts itself
    │   └── DiskFullError          the file system is out of space
    └── client.rpc.RpcError        (client side) a transport failure or a gRPC status no class
                                   above stands for; ``code`` names the status

Misuse by a programmer (a wrong type, a negative size passed by our own code) is ``TypeError`` or
``ValueError``, never one of these. ``verify_*`` functions return ``None`` or raise
``VerificationError``. Messages say what was wrong as "got X, want Y".
"""

from __future__ import annotations

from enum import Enum


class AuditLogError(Exception):
    """Base class of every error auditlog raises on purpose."""


class VerificationError(AuditLogError):
    """A proof, a root or a signature does not verify."""


class Inconsistency(Enum):
    """What kind of contradiction an ``InconsistencyError`` is; decided where it is raised."""

    FORK = "fork"  # two heads of one size with different roots, or no valid consistency proof
    ROLLBACK = "rollback"  # a head presented as the latest is smaller than one already seen


class InconsistencyError(VerificationError):
    """Two signed tree heads that cannot both be honest.

    ``kind`` says whether the log forked or rolled back; ``evidence`` holds the two signed notes
    (bytes) that contradict each other, so that the caller can archive or publish them.
    """

    def __init__(
        self, message: str, *, kind: Inconsistency, evidence: tuple[bytes, ...] = ()
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.evidence = evidence


class MalformedError(AuditLogError):
    """Input is not exactly the canonical encoding of the format it claims to be."""


class InvalidRangeError(AuditLogError):
    """An index, size or range lies outside what exists or what is allowed."""


class NotFoundError(AuditLogError):
    """An unknown log, entry, key or checkpoint."""


class PrunedError(NotFoundError):
    """Entries pruned from the server after publication (docs/retention.md): they are in the
    log's bucket, not on the server. ``pruned`` is the smallest index the server still keeps."""

    def __init__(self, message: str, pruned: int = 0) -> None:
        super().__init__(message)
        self.pruned = pruned


class ConflictError(AuditLogError):
    """A state change that contradicts stored state or lost a compare-and-swap."""


class PushbackError(AuditLogError):
    """A bounded queue or quota is full; the caller should retry later.

    ``retry_after`` is a hint in seconds.
    """

    def __init__(self, message: str, retry_after: float = 0.1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermissionDeniedError(AuditLogError):
    """The caller is identified but lacks the role the operation needs."""


class UnauthenticatedError(AuditLogError):
    """The caller could not be identified."""


class StorageError(AuditLogError):
    """The backing store failed."""


class CorruptionError(StorageError):
    """Stored data is damaged or contradicts itself: a checksum mismatch, a missing file, a root
    that disagrees with the stored nodes. Retrying cannot help; the data must be restored."""


class DiskFullError(StorageError):
    """A write failed because the file system is out of space; nothing of it was stored.

    Writes resume by themselves once space is freed.
    """
