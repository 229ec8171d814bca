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
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import grpc

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


_BY_CODE: Final[dict[grpc.StatusCode, type[errors.AuditLogError]]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.MalformedError,
    grpc.StatusCode.OUT_OF_RANGE: errors.InvalidRangeError,
    grpc.StatusCode.NOT_FOUND: errors.NotFoundError,
    grpc.StatusCode.FAILED_PRECONDITION: errors.CorruptionError,
    grpc.StatusCode.ABORTED: errors.ConflictError,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: errors.UnauthenticatedError,
}


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
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return errors.PushbackError(details, pushback_delay(details) or 0.1)
    cls = _BY_CODE.get(code)
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
