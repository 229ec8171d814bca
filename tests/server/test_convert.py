"""server/convert.py writes the three append responses itself: byte for byte what protobuf
writes for the same message, for any results, and what any protobuf reader reads back."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server import convert
from auditlog_tlog.server.appended import Appended

uint64 = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 1, 127, 128, 2**63, 2**64 - 1]))


@st.composite
def appended(draw: st.DrawFn, min_size: int = 1, max_size: int = 40) -> Appended:
    """Results of one append: fresh consecutive indexes (the fast path) or anything."""
    count = draw(st.integers(min_size, max_size))
    leaves = draw(st.lists(st.binary(min_size=32, max_size=32), min_size=count, max_size=count))
    if draw(st.booleans()):
        first = draw(st.integers(0, 2**40))
        return Appended(range(first, first + count), leaves)
    indexes = draw(st.lists(uint64, min_size=count, max_size=count))
    duplicates = draw(st.frozensets(st.integers(0, count - 1)))
    receipts = draw(st.one_of(st.just([]), st.lists(st.binary(max_size=300), min_size=count,
                                                    max_size=count)))
    return Appended(indexes, leaves, duplicates, receipts)


def _messages(results: Appended) -> list[pb.AppendResult]:
    return [convert.append_result(r) for r in results]


@given(appended(), uint64)
@settings(max_examples=300, deadline=None)
def test_batch_and_stream_responses_are_protobufs(results: Appended, sequence: int) -> None:
    batch = pb.AppendBatchResponse(results=_messages(results))
    ours = convert.append_batch_response_bytes(results)
    assert ours == batch.SerializeToString(deterministic=True)
    assert pb.AppendBatchResponse.FromString(ours) == batch
    stream = pb.AppendStreamResponse(sequence=sequence, results=_messages(results))
    ours = convert.append_stream_response_bytes(sequence, results)
    assert ours == stream.SerializeToString(deterministic=True)
    assert pb.AppendStreamResponse.FromString(ours) == stream


@given(appended(max_size=1))
@settings(max_examples=200, deadline=None)
def test_append_response_is_protobufs(results: Appended) -> None:
    (message,) = _messages(results)
    ours = convert.append_response_bytes(results)
    assert ours == pb.AppendResponse(result=message).SerializeToString(deterministic=True)


def test_appended_reads_as_one_receipted_per_entry() -> None:
    results = Appended([7, 3, 8], [b"\1" * 32, b"\2" * 32, b"\3" * 32], frozenset({1}),
                       [b"", b"", b"receipt"])
    assert [(r.outcome.index, r.outcome.duplicate, r.receipt) for r in results] == [
        (7, False, b""), (3, True, b""), (8, False, b"receipt")]
    assert results[-2].outcome.duplicate and results[-2].outcome.leaf_hash == b"\2" * 32
    assert [r.outcome.index for r in results[1:]] == [3, 8]


def test_batch_responses_of_long_runs_across_varint_lengths_are_protobufs() -> None:
    """1,000 fresh entries at a time, across blocks of 128 and where the varint of the index
    grows a byte (2^7, 2^14, 2^21, 2^63), written a block at a time (``_consecutive_results``)."""
    leaves = [bytes([i % 256]) * 32 for i in range(1000)]
    for first in (1, 100, 2**14 - 300, 2**21 - 1, 2**63 - 500, 2**64 - 1000):
        results = Appended(list(range(first, first + 1000)), leaves)
        want = pb.AppendStreamResponse(sequence=3, results=_messages(results))
        assert convert.append_stream_response_bytes(3, results) == want.SerializeToString()
