"""Bounded memory for requests: how large a valid request can be, and how many request bytes
the server holds at once.

Sizes follow the protobuf wire format (protobuf.dev/programming-guides/encoding): a
length-delimited field with a one-byte tag costs ``1 + len(varint(n)) + n`` bytes, a bool 2,
a uint64 at most 11. The largest valid request of a method is therefore known from the log
configs (``max_entry_bytes``, ``max_batch_entries`` and the origins), and

* the gRPC receive limit is the largest valid request of any method, capped by
  ``max_request_bytes``: grpc refuses a larger message (RESOURCE_EXHAUSTED) before our code
  sees it;
* a request larger than the largest valid one *of its method* is refused (INVALID_ARGUMENT)
  before it is parsed, so a 16 MiB ``Append`` to a log of 64 KiB entries costs one copy of
  its bytes for a moment, not the three a parse and a check would make;
* every request holds its size in one server-wide :class:`ByteBudget`
  (``max_inflight_bytes``) from the moment it arrives until it is answered; a request that
  does not fit gets RESOURCE_EXHAUSTED with a retry hint at once, so the bytes held by
  requests never exceed the budget however many clients send at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

from auditlog_tlog.server.config import ServerConfig
from auditlog_tlog.tree import addenda
from auditlog_tlog.tree.errors import MalformedError, PushbackError

# Every request that is not an append (reads, AddCosignature) fits in this many bytes.
OTHER_REQUEST_BYTES = 64 * 1024
BOOL_FIELD = 2
# The most an Append's addenda (docs/erasure.md) may add: MAX_ADDENDA fields of the largest size.
ADDENDA_FIELDS = addenda.MAX_ADDENDA * (addenda.MAX_ADDENDUM_BYTES + 3)
UINT64_FIELD = 11
RETRY_AFTER_MS = 100
# glibc's mallopt parameter number for the mmap threshold (malloc.h).
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1024 * 1024


def _varint_size(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def field_size(n: int) -> int:
    """Bytes of a length-delimited field (field number < 16) holding ``n`` bytes."""
    return 1 + _varint_size(n) + n


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """The largest valid request of each append method over every log of a server, the bound
    on every other request, and the gRPC receive limit that follows from them."""

    append: int
    batch: int
    stream: int
    other: int
    receive: int

    def bound(self, method: str) -> int:
        return {"Append": self.append, "AppendBatch": self.batch,
                "AppendStream": self.stream}.get(method, self.other)

    def check(self, method: str, size: int) -> None:
        """Refuse a request larger than any valid request of ``method`` could be."""
        bound = self.bound(method)
        if size > bound:
            raise MalformedError(
                f"{method} request of {size} bytes, want at most {bound}, the largest valid "
                f"{method} request on this server"
            )


def request_limits(config: ServerConfig) -> RequestLimits:
    """The limits that follow from ``config``'s logs and its ``max_request_bytes``."""
    append = batch = 0
    for log in config.logs:
        name = field_size(len(log.origin.encode()))
        entry = field_size(log.max_entry_bytes)
        append = max(append, name + entry + BOOL_FIELD + ADDENDA_FIELDS)
        batch = max(batch, name + log.max_batch_entries * entry + BOOL_FIELD)
    stream = batch + UINT64_FIELD
    receive = min(config.max_request_bytes, max(append, stream, OTHER_REQUEST_BYTES))
    return RequestLimits(
        append=min(append, receive), batch=min(batch, receive), stream=min(stream, receive),
        other=OTHER_REQUEST_BYTES, receive=receive,
    )


class ByteBudget:
    """Bytes of requests the server holds at once, across every connection and method.

    Used from the server's one event loop only, so it needs no lock. :meth:`take` never
    waits: a request that does not fit is refused with a retry hint, and its bytes are
    released at once instead of queueing up behind the others.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"byte budget: got {capacity}, want a positive number of bytes")
        self.capacity = capacity
        self.held = 0
        self.peak = 0

    def take(self, size: int) -> None:
        """Hold ``size`` bytes; PushbackError (RESOURCE_EXHAUSTED) when they do not fit."""
        if size < 0:
            raise ValueError(f"byte budget: got size {size}, want >= 0")
        if self.held + size > self.capacity:
            raise PushbackError(
                f"requests in flight hold {self.held} of the server's {self.capacity} bytes "
                f"(max_inflight_bytes), this one needs {size}; retry after {RETRY_AFTER_MS} ms",
                retry_after=RETRY_AFTER_MS / 1000,
            )
        self.held += size
        self.peak = max(self.peak, self.held)

    def give(self, size: int) -> None:
        """Release ``size`` bytes taken before."""
        if not 0 <= size <= self.held:
            raise ValueError(f"byte budget: releasing {size} bytes, want 0..{self.held} (held)")
        self.held -= size


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return None


def pin_mmap_threshold() -> bool:
    """Have glibc serve every allocation of 1 MiB or more by its own mmap, for good.

    By default glibc raises its mmap threshold to the size of each large block freed (up to
    32 MiB), so after the first refused 16 MiB request the next ones are carved from the
    heaps of grpc's threads, which keep the freed memory: RSS rose by ~130 MB over 40 refused
    16 MiB Appends. With a fixed threshold (``mallopt``, which also turns the raising off) a
    request buffer goes back to the kernel when it is freed. Returns False where the C
    library is not glibc; nothing changes there.
    """
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


class HeapTrimmer:
    """Give the heap memory freed by refused requests back to the kernel (glibc
    ``malloc_trim``) each time refused requests have brought in ``every`` bytes.

    Blocks under the mmap threshold (protobuf arenas, grpc's slices) stay in the heaps of
    the threads that freed them; without a trim a server that refused a burst of large
    requests kept ~40 MB more than idle for good. Trimming only after refusals, and only
    per ``every`` bytes of them, costs nothing on the append path and little next to
    receiving those bytes.
    """

    def __init__(self, every: int = 32 * 1024 * 1024) -> None:
        self.every = every
        self.pending = 0
        self.trims = 0
        self._trim = getattr(_libc(), "malloc_trim", None)

    def refused(self, size: int) -> None:
        """Count a refused request of ``size`` bytes; trim once ``every`` bytes are counted."""
        self.pending += size
        if self.pending >= self.every:
            self.pending = 0
            self.trims += 1
            if self._trim is not None:
                self._trim(0)
