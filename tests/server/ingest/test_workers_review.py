"""A review of the conversion workers (server/ingest/pool.py): callers that stop waiting,
a restart that races queued requests, a stop with requests queued in the server, a burst after
an idle worker died, a worker that cannot start, and what a worker writes (the server's clock
for an RFC 3164 year, OTLP/JSON entries as the server process writes them)."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import tracemalloc
import urllib.request
from multiprocessing import resource_tracker, spawn
from pathlib import Path

import pytest
from google.protobuf import json_format

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.ingest.config import Route
from auditlog_tlog.server.ingest.otlp_convert import JSON, PROTOBUF, convert_export
from auditlog_tlog.server.ingest.pool import DEPTH, ConversionPool, WorkerLostError
from auditlog_tlog.server.ingest.record import decode_entry
from auditlog_tlog.server.ingest.syslog_config import SyslogListener
from auditlog_tlog.server.ingest.syslog_server import SyslogServer
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.tree.errors import StorageError
from tests.clock import FakeClock
from tests.server.ingest.conftest import AUTH, ORIGIN, TOKEN, ingest_config, ingest_url
from tests.server.ingest.producers import listener_port, server_config, wait_for
from tests.server.ingest.test_entry_bytes import pin_request
from tests.server.ingest.test_syslog_pushback import LOG, FullThenFree
from tests.server.ingest.test_syslog_server import messages, read_frame, relp_open, syslog_frame
from tests.server.ingest.test_workers import (
    _conversions,
    _export,
    _gone,
    _in_flight,
    _restarts,
    _until,
    _workers_of,
)
from tests.servers import running, start_server

ROUTE = Route("a.example/log")
RELP_LOG = "relp.example/log"
MIB = 1 << 20


def test_callers_that_stop_waiting_leave_at_most_depth_conversions_in_the_pool() -> None:
    """A gRPC caller whose deadline passes is cancelled; the bytes it handed over must still
    count against the pool's bound until the worker is done with them, or a client that
    cancels at once piles up requests in the server while the worker is busy."""
    metrics = Metrics()

    async def scenario() -> None:
        pool = ConversionPool(1, metrics)
        await pool.start()
        [worker] = pool.pids()
        os.kill(worker, signal.SIGSTOP)  # a busy worker
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            for _ in range(4 * DEPTH):
                call = asyncio.ensure_future(pool.run(len, b"x" * MIB))
                await asyncio.sleep(0.01)  # handed over, or waiting for a slot
                call.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await call
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - base
            # DEPTH arguments, and the pickled copies on their way to the worker
            assert held < (DEPTH + 3) * MIB, f"got {held / MIB:.1f} MiB held, want < {DEPTH + 3}"
            assert _conversions(metrics) <= DEPTH
        finally:
            tracemalloc.stop()
            os.kill(worker, signal.SIGCONT)
            await pool.stop()
        assert _conversions(metrics) == 0
        assert _gone(worker)

    asyncio.run(scenario())


def test_a_restart_racing_queued_requests_fails_them_retryably_not_cancelled() -> None:
    """A request that sees a worker ended before the pool's own thread has (``_submit``'s
    ``_any_ended``) starts the pool again; the requests queued in the old pool must then get
    WorkerLostError (retryable) or their answer, never CancelledError (which ends a syslog
    connection task, or the UDP drain task for good)."""
    raw = _export("race", 0, 4)
    metrics = Metrics()

    async def scenario() -> None:
        pool = ConversionPool(1, metrics)
        await pool.start()
        try:
            [worker] = pool.pids()
            os.kill(worker, signal.SIGSTOP)
            calls = [asyncio.ensure_future(
                pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", None, ROUTE))
                for _ in range(DEPTH)]
            await _until(lambda: _conversions(metrics) == DEPTH, "the pool full")
            # What _submit does when it sees the worker ended before the pool's thread has.
            old = pool._executor
            assert old is not None
            pool._restart(old)
            os.kill(worker, signal.SIGKILL)
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            assert all(isinstance(o, (tuple, WorkerLostError)) for o in outcomes), outcomes
            assert _restarts(metrics) == 1
            want = convert_export(raw, PROTOBUF, "otlp-grpc", None, ROUTE)
            assert await pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", None, ROUTE) == want
        finally:
            await pool.stop()
        assert _conversions(metrics) == 0

    asyncio.run(scenario())


def test_a_restart_that_cannot_open_its_pipes_is_retryable_and_the_next_one_starts() -> None:
    """Out of file descriptors (EMFILE, a busy server's usual shortage) as a dead worker's
    pool is started again: the request gets WorkerLostError (retryable), not the OSError (a
    gRPC UNKNOWN, a syslog connection task ending on an exception), and a later request
    starts the pool."""
    raw = _export("emfile", 0, 4)
    metrics = Metrics()

    async def scenario() -> None:
        pool = ConversionPool(1, metrics)
        await pool.start()
        try:
            [worker] = pool.pids()
            os.kill(worker, signal.SIGKILL)
            await _until(lambda: _gone(worker), "the worker gone")
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            used = {int(fd) for fd in os.listdir("/proc/self/fd")}
            resource.setrlimit(resource.RLIMIT_NOFILE,
                               (next(fd for fd in range(len(used) + 2) if fd not in used), hard))
            try:
                with pytest.raises(WorkerLostError):
                    await pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", None, ROUTE)
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            want = convert_export(raw, PROTOBUF, "otlp-grpc", None, ROUTE)
            assert await pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", None, ROUTE) == want
            assert _conversions(metrics) == 0 and len(pool.pids()) == 1
        finally:
            workers = pool.pids()
            await pool.stop()
        assert all(_gone(pid) for pid in workers)

    asyncio.run(scenario())


def test_a_stop_refuses_the_conversions_queued_in_the_server_and_answers_the_others() -> None:
    raw = _export("stop-queued", 0, 8)
    metrics = Metrics()

    async def scenario() -> None:
        pool = ConversionPool(1, metrics)
        await pool.start()
        [worker] = pool.pids()
        os.kill(worker, signal.SIGSTOP)
        calls = [asyncio.ensure_future(
            pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", None, ROUTE))
            for _ in range(DEPTH + 3)]
        await _until(lambda: _conversions(metrics) == DEPTH, "the pool full")
        stopping = asyncio.ensure_future(pool.stop())
        await asyncio.sleep(0.05)
        os.kill(worker, signal.SIGCONT)
        await asyncio.wait_for(stopping, 30)
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        want = convert_export(raw, PROTOBUF, "otlp-grpc", None, ROUTE)
        assert outcomes[:DEPTH] == [want] * DEPTH
        assert all(isinstance(o, WorkerLostError) for o in outcomes[DEPTH:]), outcomes[DEPTH:]
        assert _conversions(metrics) == 0 and _gone(worker)

    asyncio.run(scenario())


def test_a_burst_after_an_idle_worker_died_starts_one_pool_and_answers_every_request() -> None:
    raw = _export("burst", 0, 4)
    metrics = Metrics()

    async def scenario() -> None:
        pool = ConversionPool(2, metrics)
        await pool.start()
        first = pool.pids()
        try:
            os.kill(first[0], signal.SIGKILL)
            await _until(lambda: _gone(first[0]), "the idle worker gone")
            got = await asyncio.gather(*(
                pool.run(convert_export, raw, PROTOBUF, "otlp-grpc", None, ROUTE)
                for _ in range(4 * DEPTH)))
            assert got == [convert_export(raw, PROTOBUF, "otlp-grpc", None, ROUTE)] * (4 * DEPTH)
            assert _restarts(metrics) == 1 and _conversions(metrics) == 0
            await _until(lambda: all(_gone(pid) for pid in first), "the old pool's workers gone")
            assert len(pool.pids()) == 2 and not set(pool.pids()) & set(first)
        finally:
            last = pool.pids()
            await pool.stop()
        assert all(_gone(pid) for pid in last)

    asyncio.run(scenario())


@pytest.mark.parametrize("executable", ["/nonexistent/python", "/bin/false"])
def test_workers_that_cannot_start_fail_the_start_at_once(executable: str) -> None:
    """A worker that cannot be spawned (no interpreter) or dies as it starts: ``start``
    raises StorageError saying so, it does not hang, and leaves no process behind."""
    async def scenario() -> None:
        pool = ConversionPool(1)
        with pytest.raises(StorageError, match=r"\[ingest\] workers = 1: the conversion workers "
                                               "could not start"):
            await asyncio.wait_for(pool.start(), 20)
        assert pool.pids() == []
        with pytest.raises(WorkerLostError):
            await pool.run(len, b"")

    resource_tracker.ensure_running()  # its own spawn must not use the broken executable
    python = spawn.get_executable()
    multiprocessing.set_executable(executable)
    try:
        asyncio.run(scenario())
    finally:
        multiprocessing.set_executable(os.fsdecode(python))
    assert not multiprocessing.active_children()


def test_a_server_whose_workers_cannot_start_exits_with_what_to_do(tmp_path: Path) -> None:
    config = ingest_config(tmp_path)
    config.write_text(config.read_text().replace("[ingest]\n", "[ingest]\nworkers = 1\n", 1))
    script = tmp_path / "serve.py"
    script.write_text(
        "import multiprocessing, sys\n"
        "from multiprocessing import resource_tracker\n"
        "from auditlog_tlog.client.cli import main\n"
        "if __name__ == '__main__':\n"
        "    resource_tracker.ensure_running()\n"
        "    multiprocessing.set_executable('/bin/false')\n"
        f"    sys.argv = ['auditlog', 'serve', '--config', {str(config)!r}]\n"
        "    sys.exit(main())\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode != 0
    [line] = [line for line in done.stderr.splitlines() if line.startswith("auditlog serve:")]
    assert line.startswith("auditlog serve: [ingest] workers = 1: the conversion workers could "
                           "not start (BrokenProcessPool: "), line
    assert line.endswith("want /bin/false to run them, or [ingest] workers = 0 to convert in "
                         "the server process"), line
    assert "concurrent.futures.process.BrokenProcessPool" not in done.stderr  # no traceback
    # gRPC's server, started before the workers, is stopped while the event loop runs: its
    # finalizer does not report a closed event loop after the message.
    assert "Traceback" not in done.stderr and "Event loop is closed" not in done.stderr, done.stderr


def test_the_year_of_an_rfc3164_stamp_is_the_servers_clock_with_a_worker() -> None:
    async def scenario() -> None:
        clock = FakeClock()  # 2023-11-14 in UTC; the worker's own clock says otherwise
        sink = FullThenFree(refusals=0)
        pool = ConversionPool(1)
        await pool.start()
        try:
            server = SyslogServer(SyslogListener("127.0.0.1:0", "tcp", LOG), sink, clock, pool)
            assert await server.ingest(None, [b"<13>Nov 14 22:13:20 h app: x"]) == [""]
        finally:
            await pool.stop()
        ((log, record),) = sink.appended
        assert log == LOG and record.fields.time == "2023-11-14T22:13:20Z"

    asyncio.run(scenario())


def test_otlp_json_entries_from_a_worker_are_the_server_process_entries(tmp_path: Path) -> None:
    """OTLP/JSON is parsed in the worker (test_entry_bytes pins protobuf only): what a real
    server with a worker stores equals the conversion in this process."""
    config = ingest_config(tmp_path)
    config.write_text(config.read_text().replace("[ingest]\n", "[ingest]\nworkers = 1\n", 1))
    document = json_format.MessageToDict(pin_request(), use_integers_for_enums=True)
    for resource_logs in document["resourceLogs"]:  # OTLP/JSON ids are hex, not base64
        for scope_logs in resource_logs["scopeLogs"]:
            for record in scope_logs["logRecords"]:
                for key in ("traceId", "spanId"):
                    if key in record:
                        record[key] = base64.b64decode(record[key]).hex()
    body = json.dumps(document).encode()
    for server in running(config):
        stub = server.stub()
        begin = stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN), metadata=AUTH).size
        sent = urllib.request.Request(
            ingest_url(server) + "/v1/logs", data=body, method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(sent, timeout=30) as response:
            assert response.status == 200
        end = stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN), metadata=AUTH).size
        stored = [e for page in stub.GetEntries(pb.GetEntriesRequest(log=ORIGIN, begin=begin,
                                                                      end=end),
                                                  metadata=AUTH)
                  for e in page.entries]
    by_log, refused = convert_export(body, JSON, "otlp-http", "collector",
                                     Route(ORIGIN, "auditlog.log"))
    assert not refused and list(by_log) == [ORIGIN] and len(stored) == 5
    assert stored == by_log[ORIGIN]
    assert decode_entry(stored[0]).transport == "otlp-http"


def test_a_relp_session_whose_worker_dies_answers_its_earlier_read_and_no_txnr_of_the_lost_one(
        tmp_path: Path) -> None:
    """Read 1 answered; read 2 (three TXNRs) in the worker when it dies: none of its TXNRs
    answered, nothing of it stored, and its resend stored each message once."""
    config = server_config(tmp_path, f"""
[[log]]
origin = "{RELP_LOG}"
[ingest]
workers = 1
[[ingest.syslog]]
listen = "127.0.0.1:0"
transport = "relp"
log = "{RELP_LOG}"
""")
    server = start_server(config)
    try:
        port = listener_port(server, "relp")
        lost = b"".join(syslog_frame(n, b"<13>1 - h app - - - lost %d" % n) for n in (3, 4, 5))

        def send() -> list[bytes]:
            with relp_open(port) as conn:
                conn.sendall(syslog_frame(2, b"<13>1 - h app - - - first"))
                answers = [read_frame(conn)]
                wait_for(lambda: _in_flight(server) == 0, 30, "read 1 answered")
                [worker] = _workers_of(server.process.pid)
                os.kill(worker, signal.SIGSTOP)
                conn.sendall(lost)
                wait_for(lambda: _in_flight(server) == 1, 30, "read 2 in the worker")
                os.kill(worker, signal.SIGKILL)
                while frame := read_frame(conn):
                    answers.append(frame)
                return answers

        assert send() == [b"2 rsp 6 200 OK\n"]
        assert messages(server, RELP_LOG) == ["first"]
        with relp_open(port) as conn:  # the sender resends 3, 4 and 5
            conn.sendall(lost)
            assert [read_frame(conn) for _ in range(3)] == [
                b"%d rsp 6 200 OK\n" % n for n in (3, 4, 5)]
        assert messages(server, RELP_LOG) == ["first", "lost 3", "lost 4", "lost 5"]
    finally:
        server.stop()
