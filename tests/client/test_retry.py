"""What the SDK retries and what it does not, with fake calls that fail on cue."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from auditlog_tlog.client import rpc
from auditlog_tlog.client.streaming import AppendStreamer
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.tree.errors import NotFoundError, PushbackError


class Failure(grpc.RpcError):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode, details: str = "") -> None:
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


UNAVAILABLE = Failure(grpc.StatusCode.UNAVAILABLE, "shutting down")
PUSHBACK = Failure(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full; retry after 100 ms")
TOO_BIG = Failure(grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max")
POLICY = rpc.RetryPolicy(attempts=4, initial_backoff=0.01, max_backoff=0.02)


class Flaky:
    """A unary call that raises the given failures in turn, then answers "ok"."""

    def __init__(self, *failures: Failure) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self, request: object, timeout: float | None = None,
                 metadata: object = ()) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def run(fn: Flaky, retry_unavailable: bool = True) -> tuple[str, list[float]]:
    sleeps: list[float] = []
    result = rpc.call(fn, None, address="test", timeout=5, policy=POLICY,
                      retry_unavailable=retry_unavailable, sleep=sleeps.append)
    return result, sleeps


def test_pushback_waits_at_least_what_the_server_says() -> None:
    result, sleeps = run(Flaky(PUSHBACK, PUSHBACK))
    assert result == "ok" and len(sleeps) == 2 and min(sleeps) >= 0.1
    assert rpc.pushback_delay("over its quota of 5/s; retry after 0.20 s") == pytest.approx(0.2)


def test_unavailable_is_retried_only_when_safe() -> None:
    assert run(Flaky(UNAVAILABLE, UNAVAILABLE))[0] == "ok"
    fn = Flaky(UNAVAILABLE)
    with pytest.raises(rpc.RpcError) as info:
        run(fn, retry_unavailable=False)
    assert info.value.code == "UNAVAILABLE" and fn.calls == 1
    # Pushback is refused before the request is queued: retried even without dedup.
    assert run(Flaky(PUSHBACK), retry_unavailable=False)[0] == "ok"


def test_what_is_never_retried() -> None:
    for failure, error in ((TOO_BIG, rpc.RpcError),  # no delay named: not pushback
                           (Failure(grpc.StatusCode.NOT_FOUND, "no log"), NotFoundError),
                           (Failure(grpc.StatusCode.DEADLINE_EXCEEDED), rpc.RpcError)):
        fn = Flaky(failure)
        with pytest.raises(error):
            run(fn)
        assert fn.calls == 1


def test_attempts_are_bounded() -> None:
    fn = Flaky(*[UNAVAILABLE] * 10)
    with pytest.raises(rpc.RpcError):
        run(fn)
    assert fn.calls == POLICY.attempts


class FakeStreams:
    """``AppendStream`` of a fake log with dedup: entries get indexes by content; each stream
    fails with ``fail`` after acknowledging ``fail_after`` messages (once per listed failure)."""

    def __init__(self, failures: list[tuple[int, Failure]]) -> None:
        self.failures = failures
        self.index: dict[bytes, int] = {}
        self.sequences: list[list[int]] = []

    def AppendStream(self, requests: Iterator[pb.AppendStreamRequest],
                     metadata: object = ()) -> Any:
        fail_after, failure = self.failures.pop(0) if self.failures else (-1, None)
        seen: list[int] = []
        self.sequences.append(seen)
        streams = self

        class Call:
            def __iter__(self) -> Iterator[pb.AppendStreamResponse]:
                for request in requests:
                    if len(seen) == fail_after and failure is not None:
                        raise failure
                    seen.append(request.sequence)
                    results = []
                    for entry in request.entries:
                        duplicate = entry in streams.index
                        index = streams.index.setdefault(entry, len(streams.index))
                        results.append(pb.AppendResult(index=index, duplicate=duplicate))
                    yield pb.AppendStreamResponse(sequence=request.sequence, results=results)

            def cancel(self) -> None:
                pass

        return Call()


def stream(fake: FakeStreams, entries: list[bytes], idempotent: bool = True) -> list[int]:
    streamer: AppendStreamer[int] = AppendStreamer(
        fake, "log", "test", receipt=False, batch_size=2, max_bytes=1 << 20, window=3,
        policy=POLICY, idempotent=idempotent)
    return list(streamer.run(iter(entries), lambda r: r.index))


def test_a_broken_stream_is_resumed_with_the_unacknowledged_messages() -> None:
    fake = FakeStreams([(2, UNAVAILABLE), (1, PUSHBACK)])
    entries = [b"e%d" % i for i in range(10)]
    assert stream(fake, entries) == list(range(10))
    assert len(fake.sequences) == 3
    assert fake.sequences[1][0] == fake.sequences[0][-1] + 1  # resent from the first unacked


def test_a_stream_without_dedup_is_not_resumed() -> None:
    fake = FakeStreams([(1, PUSHBACK)])
    with pytest.raises(PushbackError) as info:
        stream(fake, [b"e%d" % i for i in range(10)], idempotent=False)
    assert "2 entries were acknowledged" in str(info.value.__notes__)


def test_prefetch_takes_what_is_ready() -> None:
    from auditlog_tlog.client.streaming import _Prefetch

    q: queue.Queue[bytes] = queue.Queue()
    for i in range(5):
        q.put(b"x" * 10 + bytes([i]))

    def source() -> Iterator[bytes]:
        while True:
            item = q.get()
            if item == b"":
                return
            yield item

    pre = _Prefetch(source(), capacity=100)
    first = pre.take(3, 1000, block=True)
    assert len(first) >= 1
    assert len(pre.take(100, 22, block=True)) <= 2  # bounded by bytes
    q.put(b"")
    while not pre.done:
        pre.take(100, 1000, block=True)
    pre.close()
