"""The one table from auditlog exceptions to the witness's HTTP status codes
(c2sp.org/tlog-witness@v1.0.0, "add-checkpoint"; a test checks that every class is mapped).

The witness core raises, for each condition of the spec::

    unknown origin                                NotFoundError          404
    no trusted signature, or a bad trusted one    VerificationError      403
    old size > checkpoint size, malformed body    InvalidRangeError,
                                                  MalformedError         400
    old size is not the size last cosigned        ConflictError          409 (+ text/x.tlog.size)
    bad proof, non-empty proof from 0, same size
    with another root, size 0 with another root   InconsistencyError     422
    state or archive unavailable                  StorageError           503

so that ``InconsistencyError`` (a ``VerificationError``) must be looked up before its base class:
:func:`http_status_of` walks the exception's MRO.
"""

from __future__ import annotations

from typing import Final

from auditlog_tlog.tree import errors

HTTP_STATUS: Final[dict[type[errors.AuditLogError], int]] = {
    errors.AuditLogError: 500,
    errors.VerificationError: 403,
    errors.InconsistencyError: 422,
    errors.MalformedError: 400,
    errors.InvalidRangeError: 400,
    errors.NotFoundError: 404,
    errors.PrunedError: 410,
    errors.ConflictError: 409,
    errors.PushbackError: 503,
    errors.PermissionDeniedError: 403,
    errors.UnauthenticatedError: 401,
    errors.StorageError: 503,
    errors.CorruptionError: 500,
    errors.DiskFullError: 503,
}


def http_status_of(exc: errors.AuditLogError) -> int:
    """The status for an exception: its own class's entry, else its nearest mapped base."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500
