"""server/convert.py: the batch answers built in place equal the messages built field by field."""

from __future__ import annotations

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server import convert
from auditlog_tlog.server.sequencer import Receipted
from auditlog_tlog.storage.logstore import AppendOutcome


def test_add_append_results_keeps_every_field_and_the_order() -> None:
    receipted = [
        Receipted(AppendOutcome(7, bytes([1]) * 32, False)),
        Receipted(AppendOutcome(3, bytes([2]) * 32, True)),  # a duplicate
        Receipted(AppendOutcome(8, bytes([3]) * 32, False), b"receipt bytes"),
        Receipted(AppendOutcome(0, bytes([4]) * 32, True), b"another"),
    ]
    built = pb.AppendStreamResponse(sequence=5)
    convert.add_append_results(built.results, receipted)
    want = pb.AppendStreamResponse(
        sequence=5, results=[convert.append_result(r) for r in receipted])
    assert built == want
    assert [r.duplicate for r in built.results] == [False, True, False, True]
    assert built.results[2].receipt == b"receipt bytes"
    assert built.SerializeToString() == want.SerializeToString()
