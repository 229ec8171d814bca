"""common/eventbatch.py: a batch of plain events read at once gives, entry by entry, what
:func:`raw_keyed` (and so the parser) reads, or nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.client.event import AuditEvent
from auditlog_tlog.common.eventbatch import PlainBatch, plain_batch
from auditlog_tlog.common.searchfields import entry_fields, raw_keyed
from tests.batches import WHEN, mangled_events

LISTED = frozenset({"action", "outcome", "request_id"})
SEP = b"\xff"


def _per_entry(batch: PlainBatch, count: int) -> list[list[tuple[str, bytes]]]:
    """The (field, value) pairs of each entry, from the batch's columns."""
    out: list[list[tuple[str, bytes]]] = [[] for _ in range(count)]
    for grouped in batch.grouped:
        assert len(set(grouped.values)) == len(grouped.values) and all(grouped.values)
        for value, offsets in zip(grouped.values, grouped.offsets, strict=True):
            assert list(offsets) == sorted(offsets)
            for offset in offsets:
                out[offset].append((grouped.name, value))
    for joined in batch.joined:
        values = joined.joined.split(SEP)
        assert values[0] == b"" and len(values) == count + 1
        for offset, value in enumerate(values[1:]):
            if value:
                out[offset].append((joined.name, value))
    return [sorted(pairs) for pairs in out]


def _same(entries: list[bytes]) -> PlainBatch | None:
    """The batch is read exactly when every entry is a plain event whose values do not hold
    the separator, as raw_keyed reads each."""
    batch = plain_batch(entries, LISTED, SEP)
    raws = [raw_keyed(e, True) if e.startswith(b'{"action"') else None for e in entries]
    held = any(SEP in value for raw in raws for _, value in raw or ())
    assert (batch is None) == (None in raws or held)
    if batch is not None:
        assert {g.name for g in batch.grouped} == {"actor", "resource", "source"}
        assert {j.name for j in batch.joined} == LISTED
        assert _per_entry(batch, len(entries)) == [sorted(raw or ()) for raw in raws]
    return batch


EVENT = st.builds(
    AuditEvent, actor=st.text(min_size=1, max_size=6), action=st.sampled_from(["a", "a.b", "é"]),
    resource=st.text(min_size=1, max_size=6), outcome=st.sampled_from(["success", "failure"]),
    source=st.sampled_from(["", "git", "ci"]), request_id=st.text(max_size=4),
    attributes=st.sampled_from([{}, {}, {}, {"k": "v"}]), time=st.just(WHEN))


@given(st.lists(st.one_of(EVENT.map(AuditEvent.encode),
                          st.sampled_from([b"opaque", b'{"action":1}', b"{}"])),
                min_size=1, max_size=30))
def test_a_batch_is_read_as_each_entry_is_or_not_at_all(entries: list[bytes]) -> None:
    _same(entries)


@given(st.lists(st.tuples(st.sampled_from(["alice", "bob", "carol"]),
                          st.sampled_from(["acme/web", "acme/api"]),
                          st.sampled_from(["", "git"])), min_size=1, max_size=40))
def test_plain_events_are_read_at_once(events: list[tuple[str, str, str]]) -> None:
    entries = [AuditEvent(actor=a, action="repo.push", resource=r, source=s, request_id=f"q{i}",
                          time=WHEN).encode() for i, (a, r, s) in enumerate(events)]
    assert _same(entries) is not None


@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(b'",:{}\n\x00\\a\xff')),
                min_size=1, max_size=3),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 12)), max_size=2))
def test_a_batch_changed_anywhere_is_read_as_the_parser_reads_it_or_not_at_all(
        changes: list[tuple[int, int]], cuts: list[tuple[int, int]]) -> None:
    """Bytes of the skeleton (quotes, commas, colons, braces, newlines) replaced or cut out
    anywhere in a batch of plain events: every entry is read as the parser reads it, or the
    batch is left to the parser."""
    entries = mangled_events(changes, cuts)
    batch = _same(entries)
    if batch is not None:
        for entry, pairs in zip(entries, _per_entry(batch, len(entries)), strict=True):
            if not _utf8(entry):
                continue  # not JSON for the parser; read raw, as raw_keyed reads it
            fields = entry_fields(entry)
            assert fields is not None
            assert sorted((n, v.decode()) for n, v in pairs) == sorted(fields.keyed())


def _utf8(entry: bytes) -> bool:
    try:
        entry.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_what_is_not_a_batch_of_plain_events() -> None:
    one = AuditEvent(actor="alice", action="a", resource="r", request_id="q1").encode()
    two = AuditEvent(actor="bob", action="b", resource="r", request_id="q2").encode()
    assert _same([one, two]) is not None
    swapped = one.replace(b'"action":"a","actor":"alice"', b'"actor":"alice","action":"a"')
    assert _same([one, swapped]) is None  # the same skeletons in another order
    assert _same([one + b"\n" + two, b"x"]) is None  # two events in one entry
    assert _same([one.replace(b"alice", b"al\nice")]) is None  # a raw newline: not JSON
    assert _same([one.replace(b"alice", b"al\x00ice"), two]) is None
    assert _same([one.replace(b"alice", b'al"ice')]) is None
    assert _same([one.replace(b"alice", b"al\\u0069ce")]) is None  # an escape: the parser's
    assert _same([one, AuditEvent(actor="c", action="a", resource="r",
                                  attributes={"k": "v"}).encode()]) is None
    assert plain_batch([], LISTED, SEP) is None


def test_empty_values_are_no_values_and_raw_bytes_pass_through() -> None:
    one = AuditEvent(actor="alice", action="a", resource="r", request_id="").encode()
    odd = one.replace(b"alice", b"al\xc3ice")  # not UTF-8: read as raw_keyed reads it
    batch = _same([one, odd, one])
    assert batch is not None
    actor = next(g for g in batch.grouped if g.name == "actor")
    assert actor.values == [b"alice", b"al\xc3ice"] and actor.offsets == [[0, 2], [1]]
    source = next(g for g in batch.grouped if g.name == "source")
    assert source.values == [] and source.offsets == []  # the empty source of every entry
    request_id = next(j for j in batch.joined if j.name == "request_id")
    assert request_id.joined == SEP * 3
    # A value holding the separator: the batch is left to the other paths.
    assert _same([one, one.replace(b"alice", b"al\xffice")]) is None
    assert _same([one, one.replace(b'"a"', b'"\xff"')]) is None


def test_the_separator_is_a_byte_a_value_may_hold() -> None:
    for sep in (b"", b"\x00", b'"', b"\xff\xff"):
        with pytest.raises(ValueError, match="want one byte"):
            plain_batch([b"{}"], LISTED, sep)
