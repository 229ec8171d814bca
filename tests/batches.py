"""Batches of plain audit events with their JSON skeleton changed, for the property tests of
the whole-batch readers (common/eventbatch.py, common/searchfields.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from auditlog_tlog.client.event import AuditEvent

WHEN = datetime(2026, 11, 1, tzinfo=UTC)


def mangled_events(changes: list[tuple[int, int]], cuts: list[tuple[int, int]]) -> list[bytes]:
    """Three plain events joined, then bytes replaced (``changes``: position, byte) and runs
    cut out (``cuts``: position, length), positions taken modulo the joined length; split
    again at the joins that are left."""
    events = [AuditEvent(actor=f"u{i}", action="a.b", resource="r", request_id=f"q{i}",
                         time=WHEN).encode() for i in range(3)]
    joined = bytearray(b"\x01".join(events))
    for position, byte in changes:
        joined[position % len(joined)] = byte
    for position, length in cuts:
        del joined[position % len(joined):position % len(joined) + length]
    return bytes(joined).split(b"\x01")
