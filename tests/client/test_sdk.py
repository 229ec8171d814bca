"""LogClient against a real server on loopback: appends (one, batch, stream), reads, errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from auditlog_tlog.client.event import AuditEvent
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.compact import root_of
from auditlog_tlog.tree.errors import InvalidRangeError, MalformedError, NotFoundError
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.note import parse_note
from auditlog_tlog.tree.tlogproof import parse_tlog_proof
from tests.client.conftest import NODEDUP, ORIGIN
from tests.servers import RunningServer


@pytest.fixture
def log(server: RunningServer) -> Iterator[LogClient]:
    with LogClient(server.address, ORIGIN, timeout=10) as client:
        yield client


def test_append_is_idempotent_with_dedup(log: LogClient) -> None:
    first = log.append(b"sdk: once")
    again = log.append(b"sdk: once")
    assert (again.index, again.leaf_hash, again.duplicate) == (first.index, first.leaf_hash, True)
    assert first.leaf_hash == SHA256.hash_leaf(b"sdk: once") and not first.duplicate


def test_append_event_uses_its_canonical_encoding(log: LogClient) -> None:
    event = AuditEvent("alice", "repo.delete", "acme/web", attributes={"mfa": True})
    result = log.append(event, receipt=True)
    assert result.leaf_hash == event.leaf_hash()
    assert parse_tlog_proof(result.receipt).index == result.index


def test_batch_larger_than_the_log_allows_is_split(log: LogClient) -> None:
    entries = [b"sdk batch %d" % i for i in range(120)]  # max_batch_entries = 50
    results = log.append_batch(entries)
    indexes = [r.index for r in results]
    assert indexes == list(range(indexes[0], indexes[0] + 120))
    assert [e for _, e in log.entries(indexes[0], indexes[-1] + 1)] == entries


def test_stream_yields_results_in_order(log: LogClient) -> None:
    entries = [b"sdk stream %d" % i for i in range(500)]
    results = list(log.append_stream(iter(entries), batch_size=40, window=3))
    assert [r.leaf_hash for r in results] == [SHA256.hash_leaf(e) for e in entries]
    indexes = [r.index for r in results]
    assert indexes == list(range(indexes[0], indexes[0] + 500))


def test_stream_does_not_wait_for_a_slow_producer(log: LogClient) -> None:
    got_first = threading.Event()

    def producer() -> Iterator[bytes]:
        yield b"sdk slow 1"
        assert got_first.wait(10), "the first entry was held back waiting for more"
        yield b"sdk slow 2"

    results = []
    for result in log.append_stream(producer(), batch_size=1000):
        results.append(result)
        got_first.set()
    assert len(results) == 2


def test_stream_raises_what_the_producer_raises(log: LogClient) -> None:
    def producer() -> Iterator[bytes]:
        yield b"sdk before the failure"
        raise KeyError("producer broke")

    with pytest.raises(KeyError, match="producer broke"):
        list(log.append_stream(producer()))


def test_stream_with_receipts_and_events(log: LogClient) -> None:
    events = [AuditEvent("svc", "tick", f"r/{i}") for i in range(5)]
    results = list(log.append_stream(events, receipt=True))
    assert all(parse_tlog_proof(r.receipt).index == r.index for r in results)


def test_bad_entries_are_refused_with_the_servers_reason(log: LogClient) -> None:
    with pytest.raises(MalformedError, match="want 1 to"):
        log.append(b"")
    with pytest.raises(TypeError):
        log.append("text is not bytes")  # type: ignore[arg-type]


def test_reads(log: LogClient) -> None:
    log.append(b"sdk: reads")
    head = log.checkpoint()
    assert head.size > 0 and head.note.startswith(ORIGIN.encode() + b"\n")
    assert log.checkpoint_at(head.size) == head.note
    empty = log.checkpoint_at(0)  # every log signs its empty tree when it is created
    assert empty is not None and empty.startswith(ORIGIN.encode() + b"\n0\n")
    assert log.checkpoint_at(head.size + 1000) is None
    proof = log.inclusion_proof(leaf_hash=SHA256.hash_leaf(b"sdk: reads"))
    assert proof.size == head.size and proof.checkpoint == head.note
    assert log.inclusion_proof(index=proof.index, size=proof.index + 1).size == proof.index + 1
    assert log.consistency_proof(1).size2 == head.size
    leaves = [SHA256.hash_leaf(e) for _, e in log.entries(0, head.size)]
    assert len(leaves) == head.size
    assert root_of(SHA256, leaves) == parse_checkpoint(parse_note(head.note).text).root
    info = log.log_info()
    assert info.origin == ORIGIN and info.dedup and info.limits.max_entries_page == 7
    with pytest.raises(InvalidRangeError):
        log.inclusion_proof(index=head.size + 5)
    with pytest.raises(InvalidRangeError):
        list(log.entries(0, head.size + 100))


def test_unknown_log_and_ambiguous_origin(server: RunningServer) -> None:
    with LogClient(server.address, "nope.example/log") as client, pytest.raises(NotFoundError):
        client.checkpoint()
    with LogClient(server.address) as client, pytest.raises(NotFoundError, match="holds 2 logs"):
        _ = client.origin


def test_no_retries_of_appends_without_dedup(server: RunningServer) -> None:
    with LogClient(server.address, NODEDUP) as client:
        assert not client.log_info().dedup
        assert not client._appends_idempotent()
        a, b = client.append(b"twice"), client.append(b"twice")
        assert b.index == a.index + 1 and not b.duplicate
    with LogClient(server.address, NODEDUP, retry_appends=True) as client:
        assert client._appends_idempotent()
