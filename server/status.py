"""The one table from auditlog exceptions to gRPC status codes (a test checks it is complete).

Storage failures: ``DATA_LOSS`` for damaged data (a retry cannot help), ``RESOURCE_EXHAUSTED``
for a full file system (gRPC's code for "the entire file system is out of space"; the log
resumes once space is freed) and ``UNAVAILABLE`` for a failure that a retry may get past.
"""

from __future__ import annotations

import grpc

from auditlog_tlog.tree import errors

GRPC_STATUS: dict[type[errors.AuditLogError], grpc.StatusCode] = {
    errors.AuditLogError: grpc.StatusCode.UNKNOWN,
    errors.VerificationError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.InconsistencyError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.MalformedError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.InvalidRangeError: grpc.StatusCode.OUT_OF_RANGE,
    errors.NotFoundError: grpc.StatusCode.NOT_FOUND,
    errors.ConflictError: grpc.StatusCode.ABORTED,
    errors.PushbackError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.PermissionDeniedError: grpc.StatusCode.PERMISSION_DENIED,
    errors.UnauthenticatedError: grpc.StatusCode.UNAUTHENTICATED,
    errors.StorageError: grpc.StatusCode.UNAVAILABLE,
    errors.CorruptionError: grpc.StatusCode.DATA_LOSS,
    errors.DiskFullError: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def status_of(exc: errors.AuditLogError) -> grpc.StatusCode:
    """The status for an exception: its own class's entry, else its nearest mapped base."""
    for cls in type(exc).__mro__:
        if cls in GRPC_STATUS:
            return GRPC_STATUS[cls]
    return grpc.StatusCode.UNKNOWN
