"""The workload: unique 256-byte entries and the serialized requests that carry them.

Entry ``n`` of a stream tagged ``tag`` is ``tag`` and ``n`` written in hex, padded to 256
bytes, so no two entries of a run repeat (dedup finds nothing to skip) and every run is
reproducible.
"""

from __future__ import annotations

from proto import auditlog_pb2 as pb

ENTRY_BYTES = 256
APPEND = "/auditlog.v1.Log/Append"
APPEND_BATCH = "/auditlog.v1.Log/AppendBatch"
APPEND_STREAM = "/auditlog.v1.Log/AppendStream"
INCLUSION = "/auditlog.v1.Log/GetInclusionProof"
CONSISTENCY = "/auditlog.v1.Log/GetConsistencyProof"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


def entry(tag: str, n: int) -> bytes:
    head = f"{tag}:{n:016x}:".encode()
    return head + b"." * (ENTRY_BYTES - len(head))


class EntrySource:
    """Hands out fresh entries, never the same one twice."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.next = 0

    def take(self, count: int) -> list[bytes]:
        start, self.next = self.next, self.next + count
        return [entry(self.tag, n) for n in range(start, start + count)]


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
