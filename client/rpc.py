"""gRPC plumbing of the SDK: which failures are retried, how long to wait, and how a gRPC status
becomes an auditlog exception.

What is safe to retry (see the status codes at the top of ``proto/auditlog.proto``):

* ``RESOURCE_EXHAUSTED`` whose message names a delay ("retry after 100 ms") is pushback: the
  log refused the request before queueing it, so a retry can never duplicate. Without such a
  delay it is a request that is too large, or the server's disk is full (the log resumes once
  its operator frees space, not within a call's deadline): not retried.
* ``DATA_LOSS`` (the log's stored data is damaged) is never retried.
* ``UNAVAILABLE`` (the server is stopping, or the connection broke) is retried for reads always
  and for appends only when the log deduplicates: an append that was cut off may already be in
  the log, and only dedup makes sending it again harmless (it returns the first index, marked
  ``duplicate``). On a log with dedup off an append is not retried on ``UNAVAILABLE``.
* Nothing else is retried; ``DEADLINE_EXCEEDED`` ends the call (the deadline covers all attempts).

Which exception a failed call raises (``to_error``), read from the server's table
``server.status.GRPC_STATUS`` (``tests/client/test_rpc.py`` pins the two together):

* the class the server names in the trailing metadata ``proto.metadata.ERROR_CLASS``, or its
  nearest base in ``NAMEABLE`` (``InconsistencyError`` needs its kind and evidence, which a
  status does not carry: it comes back as its parent ``VerificationError``), provided that class
  agrees with the code (it is ``FROM_STATUS[code]`` or a subclass of it);
* else ``PushbackError`` for ``RESOURCE_EXHAUSTED`` that names a delay (or names that class),
  with that delay;
* else what the code alone means, ``FROM_STATUS[code]``: the class every server exception sent
  with that code is an instance of;
* else ``RpcError`` naming the code: a transport failure (``UNAVAILABLE`` from a connection that
  broke, ``DEADLINE_EXCEEDED``), or a code that stands for unrelated classes (FAILED_PRECONDITION
  is a failed verification and a log that refuses writes) from a server that names none.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import grpc

from auditlog_tlog.proto.metadata import ERROR_CLASS
from auditlog_tlog.tree import errors

T = TypeVar("T")
_RETRY_AFTER: Final = re.compile(r"retry after (\d+(?:\.\d+)?) ?(ms|s)\b")


class RpcError(errors.AuditLogError):
    """A call failed in transport or with a status no auditlog exception stands for.

    ``code`` is the gRPC status name, e.g. ``"UNAVAILABLE"`` or ``"DEADLINE_EXCEEDED"``.
    """

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


# What a code means on its own: the nearest common base of every class the server sends with it.
# A code missing here (FAILED_PRECONDITION, UNAVAILABLE, UNKNOWN, and RESOURCE_EXHAUSTED, which
# is pushback or a full disk) means nothing more specific than RpcError unless the server names
# the class.
FROM_STATUS: Final[dict[grpc.StatusCode, type[errors.AuditLogError]]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.MalformedError,
    grpc.StatusCode.OUT_OF_RANGE: errors.InvalidRangeError,
    grpc.StatusCode.NOT_FOUND: errors.NotFoundError,
    grpc.StatusCode.ABORTED: errors.ConflictError,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: errors.UnauthenticatedError,
    grpc.StatusCode.DATA_LOSS: errors.CorruptionError,
}

# The classes a client raises when the server names them (or a subclass): each is made from the
# server's message alone. PushbackError is built from its code (it carries the retry delay).
NAMEABLE: Final[frozenset[type[errors.AuditLogError]]] = frozenset({
    errors.VerificationError,
    errors.MalformedError,
    errors.InvalidRangeError,
    errors.NotFoundError,
    errors.PrunedError,
    errors.ConflictError,
    errors.PermissionDeniedError,
    errors.UnauthenticatedError,
    errors.StorageError,
    errors.CorruptionError,
    errors.DiskFullError,
})


def _subclasses(cls: type[errors.AuditLogError]) -> dict[str, type[errors.AuditLogError]]:
    found = {cls.__name__: cls}
    for sub in cls.__subclasses__():
        found.update(_subclasses(sub))
    return found


def named_class(name: str, code: grpc.StatusCode) -> type[errors.AuditLogError] | None:
    """The class to raise for a server that named ``name`` with ``code``, or None.

    The named class, or its nearest base in ``NAMEABLE``; None if the name is unknown, nothing
    on its way up is nameable, or the class contradicts the code (not ``FROM_STATUS[code]`` or
    a subclass of it).
    """
    named = _subclasses(errors.AuditLogError).get(name)
    if named is None:
        return None
    nameable = next((base for base in named.__mro__ if base in NAMEABLE), None)
    expected = FROM_STATUS.get(code)
    if nameable is None or (expected is not None and not issubclass(nameable, expected)):
        return None
    return nameable


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most ``attempts`` tries, waiting ``initial_backoff`` seconds, doubling up to
    ``max_backoff``, each wait drawn between half and all of that (jitter)."""

    attempts: int = 6
    initial_backoff: float = 0.05
    max_backoff: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts: got {self.attempts}, want at least 1")
        if not 0 <= self.initial_backoff <= self.max_backoff:
            raise ValueError("want 0 <= initial_backoff <= max_backoff")

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.max_backoff, self.initial_backoff * (1 << min(attempt, 30)))
        jitter: float = random.uniform(0.5, 1.0)
        return ceiling * jitter


NO_RETRY: Final = RetryPolicy(attempts=1)


def pushback_delay(details: str) -> float | None:
    """The delay named by a pushback message ("retry after 100 ms"), in seconds, or None."""
    m = _RETRY_AFTER.search(details)
    if m is None:
        return None
    value = float(m.group(1))
    return value / 1000 if m.group(2) == "ms" else value


def _code_and_details(exc: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    call: Any = exc
    try:
        return call.code(), call.details() or ""
    except AttributeError:
        return grpc.StatusCode.UNKNOWN, str(exc)


def _error_class_name(exc: grpc.RpcError) -> str:
    """The class the server named in the trailing metadata, or ""."""
    call: Any = exc
    try:
        trailer = call.trailing_metadata() or ()
    except AttributeError:  # not a call: a failure before any answer
        return ""
    for key, value in trailer:
        if key == ERROR_CLASS and isinstance(value, str):
            return value
    return ""


def retry_delay(
    exc: grpc.RpcError, attempt: int, policy: RetryPolicy, *, retry_unavailable: bool
) -> float | None:
    """How long to wait before trying again after ``exc``, or None if it must not be retried."""
    code, details = _code_and_details(exc)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        hint = pushback_delay(details)
        return None if hint is None else max(hint, policy.backoff(attempt))
    if code == grpc.StatusCode.UNAVAILABLE and retry_unavailable:
        return policy.backoff(attempt)
    return None


def to_error(exc: grpc.RpcError, address: str) -> errors.AuditLogError:
    """The auditlog exception for a failed call; the server's message is kept verbatim."""
    code, details = _code_and_details(exc)
    named = named_class(_error_class_name(exc), code)
    if named is not None:
        return named(details)
    delay = pushback_delay(details)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and (
        delay is not None or _error_class_name(exc) == errors.PushbackError.__name__
    ):
        return errors.PushbackError(details, delay or 0.1)
    cls = FROM_STATUS.get(code)
    if cls is not None:
        return cls(details)
    return RpcError(f"{code.name} from {address}: {details}", code.name)


def call(
    fn: Callable[..., T],
    request: object,
    *,
    address: str,
    timeout: float | None,
    policy: RetryPolicy,
    retry_unavailable: bool,
    metadata: tuple[tuple[str, str], ...] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call a unary method with retries, all within ``timeout`` seconds (None: no deadline)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    attempt = 0
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise RpcError(f"DEADLINE_EXCEEDED: no answer from {address} in {timeout} s",
                           "DEADLINE_EXCEEDED")
        try:
            result: T = fn(request, timeout=remaining, metadata=metadata)
            return result
        except grpc.RpcError as exc:
            delay = retry_delay(exc, attempt, policy, retry_unavailable=retry_unavailable)
            attempt += 1
            late = deadline is not None and delay is not None and time.monotonic() + delay > deadline
            if delay is None or attempt >= policy.attempts or late:
                raise to_error(exc, address) from None
            sleep(delay)
