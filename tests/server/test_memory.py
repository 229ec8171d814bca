"""Issue 11, memory under abuse: the real server, in its own process, keeps its RSS within a
stated cap while a client loops on refused maximum-size requests, and refuses what does not
fit its in-flight byte budget with a retry hint instead of growing (docs/limits.md)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.client.rpc import pushback_delay
from auditlog_tlog.proto import auditlog_pb2 as pb
from tests.servers import RunningServer, running, start_server, write_server_config

ORIGIN = "memory.example/log"
MiB = 1024 * 1024
# The cap stated in docs/limits.md: growth of VmRSS over the idle server while a client
# loops on refused maximum-size requests. Measured: 61-73 MiB, then 39-62; before the fix,
# 910 MiB; with 10^6-entry batches read into a list before they were counted, 110-128.
RSS_CAP = 128 * MiB


def _rss(server: RunningServer) -> int:
    with open(f"/proc/{server.process.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line in /proc/PID/status")


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with the default limits: 16 MiB requests, 64 KiB entries, 10,000 a batch."""
    yield from running(write_server_config(tmp_path_factory.mktemp("memory"), (ORIGIN,)))


def test_rss_stays_within_the_cap_under_refused_maximum_size_requests(
    default_server: RunningServer,
) -> None:
    stub = default_server.stub()
    stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"warm up"), timeout=10)
    idle = _rss(default_server)
    largest = pb.AppendRequest(log=ORIGIN, entry=b"x" * (16 * MiB - 64))
    assert largest.ByteSize() <= 16 * MiB  # within max_request_bytes: grpc hands it to us
    million = pb.AppendBatchRequest(log=ORIGIN, entries=[b"e%d" % i for i in range(10**6)])
    peak = idle
    for call, request, count in ((stub.Append, largest, 40), (stub.AppendBatch, million, 8)):
        for _ in range(count):
            with pytest.raises(grpc.RpcError) as info:
                call(request, timeout=30)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            peak = max(peak, _rss(default_server))
    assert peak - idle < RSS_CAP, f"RSS grew by {(peak - idle) / MiB:.0f} MiB"
    assert stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"still serving"), timeout=10).result


def test_requests_over_the_inflight_budget_are_pushed_back(tmp_path: Path) -> None:
    """Budget and receive limit of 1 MiB; each batch of 12 entries of 64 KiB waits a second
    for its batch to fill, holding 786 KB: of three sent at once one fits, two are refused."""
    config = write_server_config(
        tmp_path, (ORIGIN,),
        extra_server="max_request_bytes = 1048576\nmax_inflight_bytes = 1048576",
        extra_log="max_entry_bytes = 65536\nmax_batch_entries = 16\nbatch_delay_ms = 1000",
    )
    server = start_server(config)
    try:
        stub = server.stub()

        def append(n: int) -> tuple[grpc.StatusCode, str]:
            entries = [bytes([n, i]) * 32768 for i in range(12)]
            try:
                stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=entries), timeout=30)
            except grpc.RpcError as exc:
                return exc.code(), exc.details()
            return grpc.StatusCode.OK, ""

        with ThreadPoolExecutor(3) as pool:
            outcomes = list(pool.map(append, range(3)))
        codes = sorted(code.name for code, _ in outcomes)
        assert codes == ["OK", "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED"]
        for code, details in outcomes:
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                assert "max_inflight_bytes" in details
                assert pushback_delay(details) == pytest.approx(0.1)  # what the SDK waits
        assert append(3)[0] == grpc.StatusCode.OK  # the budget was given back
        # Larger than the largest valid request: grpc refuses it before our code sees it.
        huge = pb.AppendBatchRequest(log=ORIGIN, entries=[b"y" * 65536] * 17)
        with pytest.raises(grpc.RpcError) as info:
            stub.AppendBatch(huge, timeout=30)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        server.stop()
