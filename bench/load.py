"""Load generators over gRPC (grpc.aio clients), shared by the baselines and the append runs.

Requests are serialized before the clock starts and responses are kept as raw bytes and
checked after it stops, so the client spends as little of the shared CPU as possible inside a
measurement. Every run is bounded both in time and in calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


@dataclass(slots=True)
class LoadResult:
    calls: int
    seconds: float
    responses: list[bytes] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0


def channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


async def unary_load(
    address: str, method: str, payloads: Sequence[bytes], concurrency: int, seconds: float,
    warmup: int = 0,
) -> LoadResult:
    """``concurrency`` callers send ``payloads`` in order, each waiting for its answer, until
    the payloads run out or ``seconds`` pass. ``warmup`` calls (the first payloads) are sent
    before the clock starts."""
    async with channel(address) as ch:
        call = ch.unary_unary(method)
        for payload in payloads[:warmup]:
            await call(payload)
        queue = iter(payloads[warmup:])
        responses: list[bytes] = []
        latencies: list[float] = []
        clock = time.perf_counter
        started = clock()
        deadline = started + seconds

        async def caller() -> None:
            for payload in queue:
                sent = clock()
                responses.append(await call(payload))
                done = clock()
                latencies.append(done - sent)
                if done > deadline:
                    return

        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = clock() - started
    return LoadResult(len(responses), elapsed, responses, latencies)


async def bidi_load(
    address: str, method: str, messages: Sequence[bytes], seconds: float | None = None,
) -> LoadResult:
    """Send ``messages`` on one bidirectional stream (no more after ``seconds``, if given);
    done when every answer is in. ``calls`` counts the messages sent and answered."""
    async with channel(address) as ch:
        call = ch.stream_stream(method)
        clock = time.perf_counter
        started = clock()
        deadline = started + seconds if seconds is not None else None

        def requests() -> Iterator[bytes]:
            for message in messages:
                yield message
                if deadline is not None and clock() > deadline:
                    return

        stream = call(requests())
        responses = [r async for r in stream]
        elapsed = clock() - started
    return LoadResult(len(responses), elapsed, responses)


async def client_stream_load(address: str, method: str, messages: Sequence[bytes]) -> LoadResult:
    """Send ``messages`` on one client stream; done when the single answer is in."""
    async with channel(address) as ch:
        call = ch.stream_unary(method)
        clock = time.perf_counter
        started = clock()
        response = await call(iter(messages))
        elapsed = clock() - started
    return LoadResult(len(messages), elapsed, [response])


def sync_latencies(
    address: str, method: str, payloads: Sequence[bytes], seconds: float, warmup: int = 20,
) -> tuple[list[float], list[bytes]]:
    """One blocking caller sends ``payloads`` in order (the first ``warmup`` before the clock
    starts) until they run out or ``seconds`` pass: each call's duration and answer."""
    ch = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    try:
        call: Any = ch.unary_unary(method)
        for payload in payloads[:warmup]:
            call(payload)
        samples: list[float] = []
        responses: list[bytes] = []
        clock = time.perf_counter
        deadline = clock() + seconds
        for payload in payloads[warmup:]:
            started = clock()
            responses.append(call(payload))
            ended = clock()
            samples.append(ended - started)
            if ended > deadline:
                break
        return samples, responses
    finally:
        ch.close()
