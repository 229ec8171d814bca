"""The one table from auditlog exceptions to gRPC status codes (a test checks it is complete).

Storage failures: ``DATA_LOSS`` for damaged data (a retry cannot help), ``RESOURCE_EXHAUSTED``
for a full file system (gRPC's code for "the entire file system is out of space"; the log
resumes once space is freed) and ``UNAVAILABLE`` for a failure that a retry may get past.

A failed call also carries, as trailing metadata ``proto.metadata.ERROR_CLASS``, the name of the
class whose entry gave its code, so that ``client.rpc`` can raise that class again.
"""

from __future__ import annotations

import grpc

from auditlog_tlog.proto.metadata import ERROR_CLASS
from auditlog_tlog.tree import errors

GRPC_STATUS: dict[type[errors.AuditLogError], grpc.StatusCode] = {
    errors.AuditLogError: grpc.StatusCode.UNKNOWN,
    errors.VerificationError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.InconsistencyError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.MalformedError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.InvalidRangeError: grpc.StatusCode.OUT_OF_RANGE,
    errors.NotFoundError: grpc.StatusCode.NOT_FOUND,
    errors.PrunedError: grpc.StatusCode.FAILED_PRECONDITION,  # there, but in the bucket only
    errors.ConflictError: grpc.StatusCode.ABORTED,
    errors.PushbackError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.PermissionDeniedError: grpc.StatusCode.PERMISSION_DENIED,
    errors.UnauthenticatedError: grpc.StatusCode.UNAUTHENTICATED,
    errors.StorageError: grpc.StatusCode.UNAVAILABLE,
    errors.CorruptionError: grpc.StatusCode.DATA_LOSS,
    errors.DiskFullError: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def mapped_class(cls: type[errors.AuditLogError]) -> type[errors.AuditLogError]:
    """The class whose entry stands for ``cls``: itself, else its nearest mapped base."""
    for base in cls.__mro__:
        if base in GRPC_STATUS:
            return base
    return errors.AuditLogError


def status_of(exc: errors.AuditLogError) -> grpc.StatusCode:
    """The status for an exception: its own class's entry, else its nearest mapped base."""
    return GRPC_STATUS[mapped_class(type(exc))]


def trailer_of(exc: errors.AuditLogError) -> tuple[tuple[str, str], ...]:
    """The trailing metadata of a call that failed with ``exc``: the class behind its status."""
    return ((ERROR_CLASS, mapped_class(type(exc)).__name__),)
