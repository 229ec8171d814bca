"""Hostile gRPC input to the Log service that the fuzz tests (tests/server/test_fuzz.py) do not
reach: metadata, and values the RFC 3339 parser let through (docs/input-hardening.md, "gRPC")."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.proto import auditlog_pb2_grpc as pb_grpc
from auditlog_tlog.server.security import hash_token
from auditlog_tlog.server.service import MAX_READERS
from tests.servers import RunningServer, running, write_server_config

LOG = "a.example/log"
TOKENS = {"reader": "r-secret", "admin": "a-secret"}
PRINCIPALS = f"""
[[principal]]
name = "reader"
token_sha256 = "{hash_token(TOKENS['reader'])}"
roles = {{ "{LOG}" = ["read"] }}

[[principal]]
name = "admin"
token_sha256 = "{hash_token(TOKENS['admin'])}"
roles = {{ "*" = ["admin"] }}
"""


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("hostile")
    config = write_server_config(directory, (LOG,))
    with config.open("a") as f:
        f.write(PRINCIPALS)
    yield from running(config)


def _bearer(who: str) -> tuple[str, str]:
    return ("authorization", f"Bearer {TOKENS[who]}")


def _code(call: Callable[..., object], *args: object, **kwargs: object
          ) -> tuple[grpc.StatusCode, str]:
    try:
        call(*args, **kwargs)
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize("first", ["reader", "admin"])
def test_two_authorization_values_are_refused_whichever_comes_first(
        secured: RunningServer, first: str) -> None:
    # The first value used to decide alone: a caller behind a proxy that adds its own
    # credential could put another in front of it, and which one counted depended on order.
    other = "admin" if first == "reader" else "reader"
    code, details = _code(secured.stub().GetLogInfo, pb.GetLogInfoRequest(log=LOG),
                          metadata=(_bearer(first), _bearer(other)), timeout=10)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "got 2 values, want one" in details
    # One credential alone still works.
    assert secured.stub().GetLogInfo(pb.GetLogInfoRequest(log=LOG), metadata=(_bearer(first),),
                                     timeout=10).origin == LOG


@pytest.mark.parametrize("since", [
    "2026-01-01T00:00:00\x00Z",  # a NUL before the offset
    "20260101T000000Z",  # ISO 8601 basic format
    "2026-W01-1T00:00:00Z",  # an ISO week date: 2025-12-29
    "2026-01-01T00:00:00,5Z",  # a comma fraction, which was then dropped
    "2026-01-01T00:00Z", "2026-01-01T00:00:00+01", " 2026-01-01T00:00:00Z",
])
def test_search_times_that_are_not_rfc_3339_are_refused(secured: RunningServer,
                                                        since: str) -> None:
    admin = (_bearer("admin"),)
    for name, request in (("since", pb.SearchRequest(log=LOG, since=since)),
                          ("until", pb.SearchRequest(log=LOG, until=since))):
        code, details = _code(secured.stub().Search, request, metadata=admin, timeout=10)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (name, since)
        assert details.startswith(f"{name}: got ") and "want RFC 3339" in details
    stamp = "2026-01-01t00:00:00.123456789z"  # lower case and nine digits are RFC 3339
    assert secured.stub().Search(pb.SearchRequest(log=LOG, since=stamp), metadata=admin,
                                 timeout=10).tree_size == 0


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("capped")
    yield from running(write_server_config(directory, (LOG,),
                                           extra_server="max_concurrent_rpcs = 20"))


def test_idle_streams_beyond_max_concurrent_rpcs_are_refused(capped: RunningServer) -> None:
    # Each AppendStream opened and never written held ~23 KB of the server for as long as the
    # client liked, with no bound: 5,000 of them on 10 connections added 114 MB of RSS.
    async def scenario() -> tuple[grpc.StatusCode, int]:
        async def silent() -> AsyncIterator[pb.AppendStreamRequest]:
            await asyncio.sleep(60)
            yield pb.AppendStreamRequest()

        async with grpc.aio.insecure_channel(capped.address) as channel:
            stub = pb_grpc.LogStub(channel)
            idle = [stub.AppendStream(silent(), timeout=30) for _ in range(20)]
            await asyncio.gather(*(call.wait_for_connection() for call in idle))
            await asyncio.sleep(0.5)  # each is a call in the server now
            try:
                await stub.Append(pb.AppendRequest(log=LOG, entry=b"over"), timeout=10)
                code = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
            for call in idle:
                call.cancel()
            await asyncio.sleep(0.5)
            reply = await stub.Append(pb.AppendRequest(log=LOG, entry=b"after"), timeout=10)
            return code, reply.result.index

    code, index = asyncio.run(scenario())
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert index == 0  # the refused Append stored nothing; the next is the log's first entry


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("filled")
    for server in running(write_server_config(directory, (LOG,),
                                              extra_log="max_entry_bytes = 8192\ndedup = false")):
        for _ in range(6):  # 24 MB: more than grpc buffers for a client that never reads
            server.stub().AppendBatch(pb.AppendBatchRequest(
                log=LOG, entries=[os.urandom(8000) for _ in range(500)]), timeout=30)
        yield server


def test_get_entries_calls_that_never_read_are_bounded(filled: RunningServer) -> None:
    # A GetEntries call whose client never reads holds ~16 MB of the server (a page in four
    # copies) for as long as the call lasts: 100 such calls held 1.6 GB.
    async def scenario() -> tuple[grpc.StatusCode, str, int]:
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        async with grpc.aio.insecure_channel(filled.address, options=options) as channel:
            stub = pb_grpc.LogStub(channel)
            everything = pb.GetEntriesRequest(log=LOG, begin=0, end=3000)
            stalled = [stub.GetEntries(everything, timeout=30) for _ in range(MAX_READERS)]
            await asyncio.sleep(2)  # each has written what the transport takes, and waits
            try:
                async for _ in stub.GetEntries(everything, timeout=10):
                    pass
                code, details = grpc.StatusCode.OK, ""
            except grpc.aio.AioRpcError as exc:
                code, details = exc.code(), exc.details() or ""
            for call in stalled:
                call.cancel()
            await asyncio.sleep(0.5)
            pages = [page async for page in stub.GetEntries(
                pb.GetEntriesRequest(log=LOG, begin=0, end=3), timeout=10)]
            return code, details, sum(len(page.entries) for page in pages)

    code, details, read = asyncio.run(scenario())
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"{MAX_READERS} GetEntries calls already stream" in details
    assert read == 3  # once they are gone, entries are served again


def test_appends_cut_by_deadline_or_cancel_are_whole_or_absent(capped: RunningServer) -> None:
    # No test cut appends short before: a batch whose call ends in the middle (1 ms deadline,
    # or an AppendStream cancelled with messages unanswered) is in the log whole or not at all,
    # and what was acknowledged is there.
    stub = capped.stub()
    batches = [[f"deadline-{i}-{j}".encode() for j in range(3)] for i in range(30)]
    for batch in batches:
        try:
            stub.AppendBatch(pb.AppendBatchRequest(log=LOG, entries=batch), timeout=0.001)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    streamed = [[f"stream-{i}-{j}".encode() for j in range(50)] for i in range(40)]
    call = stub.AppendStream(iter([pb.AppendStreamRequest(log=LOG, sequence=i, entries=e)
                                   for i, e in enumerate(streamed)]), timeout=30)
    acknowledged = []
    for answer in call:
        acknowledged.append(answer.sequence)
        if len(acknowledged) == 3:
            call.cancel()
            break
    stub.GetCheckpoint(pb.GetCheckpointRequest(log=LOG), timeout=10)  # the server still serves
    pages = list(stub.GetEntries(pb.GetEntriesRequest(
        log=LOG, begin=0, end=stub.GetLogInfo(pb.GetLogInfoRequest(log=LOG)).size), timeout=10))
    stored = {entry for page in pages for entry in page.entries}
    for batch in batches + streamed:
        assert stored.issuperset(batch) or stored.isdisjoint(batch), batch[0]
    assert all(stored.issuperset(streamed[i]) for i in acknowledged)
