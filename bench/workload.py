"""The workload: unique 256-byte entries and the serialized requests that carry them.

Entry ``n`` of a stream tagged ``tag`` starts with ``tag`` and ``n`` in hex, so no two entries
of a run repeat (dedup finds nothing to skip), and is filled up to 256 bytes with a slice of a
fixed pseudo-random pool at an offset that depends on ``n``. The fill keeps RocksDB's block
compression from shrinking the entries (padding with one repeated byte would make the bytes
on disk per entry meaningless), and every run is reproducible.
"""

from __future__ import annotations

import random
from typing import Final

from auditlog_tlog.proto import auditlog_pb2 as pb

ENTRY_BYTES = 256
APPEND = "/auditlog.v1.Log/Append"
APPEND_BATCH = "/auditlog.v1.Log/AppendBatch"
APPEND_STREAM = "/auditlog.v1.Log/AppendStream"
INCLUSION = "/auditlog.v1.Log/GetInclusionProof"
CONSISTENCY = "/auditlog.v1.Log/GetConsistencyProof"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


_POOL_BYTES: Final = 1 << 20
_POOL: Final = random.Random(6962).randbytes(_POOL_BYTES)


def entry(tag: str, n: int) -> bytes:
    head = f"{tag}:{n:016x}:".encode()
    fill = ENTRY_BYTES - len(head)
    offset = (n * 2654435761) % (_POOL_BYTES - fill)
    return head + _POOL[offset : offset + fill]


def entries(tag: str, start: int, end: int) -> list[bytes]:
    """``entry(tag, n)`` for n in [start, end), made faster in bulk."""
    head = tag.encode() + b":"
    fill = ENTRY_BYTES - len(head) - 17
    span = _POOL_BYTES - fill
    pool = _POOL
    out = []
    for n in range(start, end):
        offset = (n * 2654435761) % span
        out.append(b"%s%016x:%s" % (head, n, pool[offset : offset + fill]))
    return out


class EntrySource:
    """Hands out fresh entries, never the same one twice."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.next = 0

    def take(self, count: int) -> list[bytes]:
        start, self.next = self.next, self.next + count
        return entries(self.tag, start, start + count)


def append_requests(log: str, source: EntrySource, count: int) -> list[bytes]:
    return [pb.AppendRequest(log=log, entry=e).SerializeToString() for e in source.take(count)]


def batch_requests(log: str, source: EntrySource, batches: int, size: int) -> list[bytes]:
    return [
        pb.AppendBatchRequest(log=log, entries=source.take(size)).SerializeToString()
        for _ in range(batches)
    ]


def stream_messages(log: str, source: EntrySource, messages: int, size: int) -> list[bytes]:
    return [
        pb.AppendStreamRequest(log=log, entries=source.take(size), sequence=i).SerializeToString()
        for i in range(messages)
    ]


def inclusion_requests(log: str, pairs: list[tuple[int, int]]) -> list[bytes]:
    return [
        pb.GetInclusionProofRequest(log=log, index=i, tree_size=s).SerializeToString()
        for i, s in pairs
    ]


def consistency_requests(log: str, pairs: list[tuple[int, int]]) -> list[bytes]:
    return [
        pb.GetConsistencyProofRequest(log=log, size1=a, size2=b).SerializeToString()
        for a, b in pairs
    ]
