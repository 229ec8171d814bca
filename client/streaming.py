"""The client half of ``AppendStream``: entries in, acknowledgements out, with a bounded window
and resumption after a broken stream.

Three parties::

    caller's iterable --(reader thread)--> _Prefetch --(run())--> stream --> log
                                                         ^                   |
                                                         +--- responses <----+

``run`` is a generator in the caller's thread. It takes what entries are ready into a message
(at most ``batch_size`` entries and ``max_bytes``), keeps at most ``window`` messages
unacknowledged, and yields each message's results when its acknowledgement arrives (the log
acknowledges in request order). When the stream fails with a retryable status, a new stream
is opened and every unacknowledged message is sent again with its sequence number. The log
ends a stream at its first failed message, and the messages behind it may have been appended
all the same, so streams are resumed only on a log that deduplicates (``idempotent``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

import grpc

from auditlog_tlog.client import rpc
from auditlog_tlog.proto import auditlog_pb2 as pb

R = TypeVar("R")
_DONE: Final = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Prefetch:
    """Reads an iterator in a daemon thread into a bounded queue."""

    def __init__(self, source: Iterator[bytes], capacity: int) -> None:
        self._queue: queue.Queue[object] = queue.Queue(capacity)
        self._stop = threading.Event()
        self.done = False
        self._thread = threading.Thread(target=self._pump, args=(source,), daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _pump(self, source: Iterator[bytes]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(_Failure(exc))
            return
        self._put(_DONE)

    def take(self, count: int, max_bytes: int, block: bool) -> list[bytes]:
        """Up to ``count`` entries that fit in ``max_bytes`` (at least one, if any); waits for
        the first one only if ``block``."""
        taken: list[bytes] = []
        total = 0
        while not self.done and len(taken) < count:
            if taken and total + self._peek_size() > max_bytes:
                break
            try:
                item = self._queue.get(block=block and not taken)
            except queue.Empty:
                break
            if item is _DONE:
                self.done = True
            elif isinstance(item, _Failure):
                self.done = True
                raise item.exc
            else:
                assert isinstance(item, bytes)
                taken.append(item)
                total += len(item)
        return taken

    def _peek_size(self) -> int:
        with self._queue.mutex:
            head = self._queue.queue[0] if self._queue.queue else None
        return len(head) if isinstance(head, bytes) else 0

    def close(self) -> None:
        self._stop.set()


@dataclass(frozen=True, slots=True)
class _Message:
    sequence: int
    entries: list[bytes]


class _Stream:
    """One ``AppendStream`` call: ``send`` feeds its request iterator, ``next`` reads an ack."""

    def __init__(self, stub: Any, origin: str, receipt: bool,
                 metadata: tuple[tuple[str, str], ...]) -> None:
        self._origin = origin
        self._receipt = receipt
        self._outbox: queue.Queue[_Message | None] = queue.Queue()
        self._call = stub.AppendStream(self._requests(), metadata=metadata)
        self._responses: Iterator[pb.AppendStreamResponse] = iter(self._call)

    def _requests(self) -> Iterator[pb.AppendStreamRequest]:
        while (message := self._outbox.get()) is not None:
            yield pb.AppendStreamRequest(
                log=self._origin, entries=message.entries, sequence=message.sequence,
                want_receipt=self._receipt,
            )

    def send(self, message: _Message) -> None:
        self._outbox.put(message)

    def next(self) -> pb.AppendStreamResponse | None:
        return next(self._responses, None)

    def finish(self) -> None:
        """Half-close and read to the end, so that a final error status is raised."""
        self._outbox.put(None)
        for response in self._responses:
            raise rpc.RpcError(
                f"AppendStream: got an acknowledgement for {response.sequence} after the last",
                "DATA_LOSS",
            )

    def cancel(self) -> None:
        self._outbox.put(None)
        self._call.cancel()


class AppendStreamer(Generic[R]):
    def __init__(
        self, stub: Any, origin: str, address: str, *, receipt: bool, batch_size: int,
        max_bytes: int, window: int, policy: rpc.RetryPolicy, idempotent: bool,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._metadata = metadata
        if window < 1 or batch_size < 1:
            raise ValueError(f"window and batch_size: got {window}, {batch_size}, want >= 1")
        self._stub, self._origin, self._address = stub, origin, address
        self._receipt, self._batch_size, self._max_bytes = receipt, batch_size, max_bytes
        self._window, self._policy, self._idempotent = window, policy, idempotent
        self.acknowledged = 0  # entries acknowledged so far

    def run(
        self, entries: Iterator[bytes], convert: Callable[[pb.AppendResult], R]
    ) -> Iterator[R]:
        source = _Prefetch(entries, capacity=2 * self._batch_size)
        pending: deque[_Message] = deque()
        sequence = attempt = 0
        stream: _Stream | None = None
        try:
            while True:
                if stream is None:
                    stream = _Stream(self._stub, self._origin, self._receipt, self._metadata)
                    for message in pending:
                        stream.send(message)
                while len(pending) < self._window and not source.done:
                    batch = source.take(self._batch_size, self._max_bytes, block=not pending)
                    if not batch:
                        break
                    message = _Message(sequence, batch)
                    sequence += 1
                    pending.append(message)
                    stream.send(message)
                try:
                    if not pending:
                        stream.finish()
                        stream = None
                        return
                    response = stream.next()
                except grpc.RpcError as exc:
                    if stream is not None:
                        stream.cancel()
                    stream = None
                    # Messages behind a failed one may have been appended without being
                    # acknowledged, so a stream is only resumed on a log that deduplicates.
                    delay = None
                    if self._idempotent:
                        delay = rpc.retry_delay(exc, attempt, self._policy, retry_unavailable=True)
                    attempt += 1
                    if delay is None or attempt >= self._policy.attempts:
                        raise self._failed(exc) from None
                    time.sleep(delay)
                    continue
                message = pending.popleft()
                self._check(response, message)
                assert response is not None
                attempt = 0
                self.acknowledged += len(message.entries)
                for result in response.results:
                    yield convert(result)
        finally:
            source.close()
            if stream is not None:
                stream.cancel()

    def _check(self, response: pb.AppendStreamResponse | None, message: _Message) -> None:
        if response is None:
            raise rpc.RpcError(
                f"AppendStream to {self._address} ended with message {message.sequence} "
                "unacknowledged", "DATA_LOSS",
            )
        if response.sequence != message.sequence or len(response.results) != len(message.entries):
            raise rpc.RpcError(
                f"AppendStream: got an acknowledgement of message {response.sequence} with "
                f"{len(response.results)} results, want {message.sequence} with "
                f"{len(message.entries)}", "DATA_LOSS",
            )

    def _failed(self, exc: grpc.RpcError) -> Exception:
        error = rpc.to_error(exc, self._address)
        error.add_note(f"{self.acknowledged} entries were acknowledged before the failure")
        return error
