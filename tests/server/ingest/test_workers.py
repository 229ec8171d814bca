"""Conversion workers (server/ingest/pool.py): the same answers as in the server process, a
bounded hand-over, a worker killed with SIGKILL failing only the requests in flight with a
retryable status (and started again), and no worker outliving its pool or its server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from auditlog_tlog.server.ingest.config import Route
from auditlog_tlog.server.ingest.otlp_convert import (
    JSON,
    PROTOBUF,
    UnparsableError,
    convert_export,
)
from auditlog_tlog.server.ingest.pool import DEPTH, ConversionPool, WorkerLostError
from auditlog_tlog.server.metrics import Metrics
from tests.server.ingest.conftest import ORIGIN, TOKEN, ingest_config, ingest_url, size_of
from tests.server.ingest.producers import wait_for
from tests.servers import RunningServer, running, start_server

_T = TypeVar("_T")
EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
ROUTE = Route("a.example/log")


def _export(tag: str, first: int, count: int) -> bytes:
    """An Export of ``count`` distinct records, as bytes."""
    records = [LogRecord(time_unix_nano=1_764_467_100_000_000_000 + i,
                         body=AnyValue(string_value=f"{tag} {i}"),
                         attributes=[KeyValue(key="user.id", value=AnyValue(string_value="u"))])
               for i in range(first, first + count)]
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        scope_logs=[ScopeLogs(log_records=records)])]).SerializeToString()


def _conversions(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("auditlog_ingest_conversions") or 0.0


def _restarts(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("auditlog_ingest_worker_restarts_total") or 0.0


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited: reaped, or a zombie whose every thread has ended
    (a killed worker's main thread is a zombie while its other thread still exits)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state == "Z" and len(os.listdir(f"/proc/{pid}/task")) == 1 and all(
            Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
            for tid in os.listdir(f"/proc/{pid}/task"))
    except (FileNotFoundError, ProcessLookupError):
        return True


async def _until(check: Callable[[], bool], what: str) -> None:
    """Let the event loop and the pool's threads run until ``check()`` holds."""
    for _ in range(20_000):
        if check():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never: {what}")


def test_a_worker_gives_what_the_server_process_gives() -> None:
    raw = _export("pool", 0, 64)

    async def scenario() -> None:
        pool = ConversionPool(1)
        await pool.start()
        try:
            got = await pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", "p", ROUTE)
            assert got == convert_export(raw, PROTOBUF, "otlp-grpc", "p", ROUTE)
            with pytest.raises(UnparsableError) as caught:
                await pool.run(convert_export, b"{", JSON, "otlp-http", None, ROUTE)
            with pytest.raises(UnparsableError) as local:
                convert_export(b"{", JSON, "otlp-http", None, ROUTE)
            assert str(caught.value) == str(local.value)
        finally:
            await pool.stop()

    asyncio.run(scenario())


def test_a_killed_worker_fails_what_was_in_flight_and_the_pool_starts_again() -> None:
    raw = _export("kill", 0, 8)
    metrics = Metrics()

    async def scenario() -> None:
        pool = ConversionPool(1, metrics)
        await pool.start()
        try:
            await pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", None, ROUTE)
            [worker] = pool.pids()
            os.kill(worker, signal.SIGSTOP)  # holds the next conversion in flight
            inflight = asyncio.ensure_future(
                pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", None, ROUTE))
            await _until(lambda: _conversions(metrics) == 1, "a conversion in flight")
            os.kill(worker, signal.SIGKILL)
            with pytest.raises(WorkerLostError):
                await inflight
            assert _restarts(metrics) == 1 and _conversions(metrics) == 0
            got = await pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", None, ROUTE)
            assert got == convert_export(raw, PROTOBUF, "otlp-grpc", None, ROUTE)
            assert worker not in pool.pids() and len(pool.pids()) == 1
            # A worker that dies while the pool is idle fails nothing: the next request goes
            # to a pool started again.
            [idle] = pool.pids()
            os.kill(idle, signal.SIGKILL)
            await _until(lambda: _gone(idle), "the idle worker gone")
            got = await pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", None, ROUTE)
            assert got == convert_export(raw, PROTOBUF, "otlp-grpc", None, ROUTE)
            assert _restarts(metrics) == 2
        finally:
            workers = pool.pids()
            await pool.stop()
        assert workers and all(_gone(pid) for pid in workers)

    asyncio.run(scenario())


def test_at_most_depth_conversions_per_worker_are_handed_over() -> None:
    raw = _export("bound", 0, 4)
    metrics = Metrics()

    async def scenario() -> None:
        pool = ConversionPool(1, metrics)
        await pool.start()
        try:
            await pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", None, ROUTE)
            [worker] = pool.pids()
            os.kill(worker, signal.SIGSTOP)
            calls = [asyncio.ensure_future(
                pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", None, ROUTE))
                for _ in range(DEPTH + 3)]
            await _until(lambda: _conversions(metrics) == DEPTH, "the pool full")
            for _ in range(50):
                await asyncio.sleep(0)
            assert _conversions(metrics) == DEPTH  # the other three wait in the server
            os.kill(worker, signal.SIGCONT)
            results = await asyncio.gather(*calls)
            assert len(results) == DEPTH + 3 and _conversions(metrics) == 0
        finally:
            await pool.stop()

    asyncio.run(scenario())


def test_a_stop_finishes_the_conversions_handed_over_and_refuses_later_ones() -> None:
    raw = _export("stop", 0, 32)
    metrics = Metrics()

    async def scenario() -> None:
        pool = ConversionPool(1, metrics)
        await pool.start()
        calls = [asyncio.ensure_future(
            pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", None, ROUTE))
            for _ in range(DEPTH)]
        await _until(lambda: _conversions(metrics) == DEPTH, "the pool full")
        workers = pool.pids()
        await pool.stop()
        want = convert_export(raw, PROTOBUF, "otlp-grpc", None, ROUTE)
        assert await asyncio.gather(*calls) == [want] * DEPTH  # answered, not cancelled
        with pytest.raises(WorkerLostError):
            await pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", None, ROUTE)
        assert workers and all(_gone(pid) for pid in workers)

    asyncio.run(scenario())


def test_no_worker_outlives_a_killed_server_process(tmp_path: Path) -> None:
    script = tmp_path / "owner.py"
    script.write_text(
        "import asyncio, sys\n"
        "from auditlog_tlog.server.ingest.pool import ConversionPool\n"
        "async def main():\n"
        "    pool = ConversionPool(2)\n"
        "    await pool.start()\n"
        "    await pool.run(sum, [1, 2])\n"
        "    print(*pool.pids(), flush=True)\n"
        "    await asyncio.sleep(120)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n")
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    assert owner.stdout is not None
    with owner.stdout:
        try:
            workers = [int(pid) for pid in owner.stdout.readline().split()]
            assert len(workers) == 2 and not any(_gone(pid) for pid in workers)
        finally:
            owner.kill()
            owner.wait(10)
    wait_for(lambda: all(_gone(pid) for pid in workers), 10, "the orphaned workers to exit")


# A real server with one worker: the retryable statuses of OTLP/gRPC and OTLP/HTTP.


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = ingest_config(tmp_path_factory.mktemp("workers"))
    text = config.read_text().replace("[ingest]\n", "[ingest]\nworkers = 1\n", 1)
    config.write_text(text)
    yield from running(config)


def _workers_of(pid: int) -> list[int]:
    """The conversion workers of server ``pid`` (its spawned children but the resource
    tracker)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(stat[1]) == pid and b"spawn_main" in command and stat[0] != "Z":
            found.append(int(entry))
    return found


def _in_flight(server: RunningServer) -> float:
    with urllib.request.urlopen(server.metrics_url, timeout=10) as response:
        text = response.read().decode()
    return next(float(line.split()[-1]) for line in text.splitlines()
                if line.startswith("auditlog_ingest_conversions "))


def _kill_worker_during(server: RunningServer, send: Callable[[], _T]) -> _T:
    """Run ``send()`` while the server's worker is stopped, kill the worker once the
    conversion is in flight, and return what ``send()`` gave."""
    wait_for(lambda: len(_workers_of(server.process.pid)) == 1, 30, "one worker")
    [worker] = _workers_of(server.process.pid)
    os.kill(worker, signal.SIGSTOP)
    with ThreadPoolExecutor(1) as sender:
        answer = sender.submit(send)
        wait_for(lambda: _in_flight(server) == 1, 30, "the conversion in flight")
        os.kill(worker, signal.SIGKILL)
        return answer.result(60)


def test_grpc_export_in_flight_when_its_worker_dies_is_unavailable(server: RunningServer) -> None:
    raw = _export("grpc-kill", 0, 16)
    before = size_of(server, ORIGIN)
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    with grpc.insecure_channel(server.address) as channel:
        call = channel.unary_unary(EXPORT, response_deserializer=ExportLogsServiceResponse.FromString)

        def send() -> grpc.StatusCode:
            try:
                call(raw, metadata=metadata, timeout=60)
            except grpc.RpcError as exc:
                assert "conversion worker died" in exc.details()
                return exc.code()
            return grpc.StatusCode.OK

        assert _kill_worker_during(server, send) == grpc.StatusCode.UNAVAILABLE
        assert size_of(server, ORIGIN) == before  # nothing of it appended
        answer = call(raw, metadata=metadata, timeout=60)  # the exporter's retry
    assert answer.partial_success.rejected_log_records == 0
    assert size_of(server, ORIGIN) == before + 16


def test_http_export_in_flight_when_its_worker_dies_is_503_with_retry_after(
        server: RunningServer) -> None:
    body = _export("http-kill", 0, 16)
    before = size_of(server, ORIGIN)

    def send() -> tuple[int, str | None]:
        request = urllib.request.Request(
            ingest_url(server) + "/v1/logs", data=body, method="POST",
            headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {TOKEN}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, None
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers.get("Retry-After")

    assert _kill_worker_during(server, send) == (503, "1")
    assert size_of(server, ORIGIN) == before
    assert send() == (200, None)
    assert size_of(server, ORIGIN) == before + 16


def test_a_stopped_server_leaves_no_worker(tmp_path: Path) -> None:
    config = ingest_config(tmp_path)
    config.write_text(config.read_text().replace("[ingest]\n", "[ingest]\nworkers = 2\n", 1))
    server = start_server(config)
    try:
        wait_for(lambda: len(_workers_of(server.process.pid)) == 2, 30, "two workers")
        workers = _workers_of(server.process.pid)
    finally:
        assert server.stop() == 0
    assert all(_gone(pid) for pid in workers)
