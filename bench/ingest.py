"""Ingestion throughput (docs/ingestion.md), durable, beside the gRPC AppendBatch rate of the
same run on the same server:

- ``append_batch``: AppendBatch of ``--batch`` 256-byte entries (the same-run baseline);
- ``otlp_grpc``: LogsService/Export of ``--batch`` LogRecords (a ~50-byte body and five
  attributes each, as an audit event from an SDK looks);
- ``otlp_http``: the same requests as OTLP/HTTP protobuf POSTs to /v1/logs.

Each keeps ``--inflight`` requests in flight from one asyncio client; requests are built before
the clock starts, every record is distinct (nothing is answered by dedup), and every answer is
checked after the clock stops. The project's budget is >= 100,000 OTLP records/s durable.
Beside each rate, ``server_cpu_ms_per_1000``: the server process's CPU time (user + system,
every thread, /proc/PID/stat) over the phase per 1,000 records, the figure that a shared,
loaded machine moves least; ``workers_cpu_ms_per_1000`` that of its child processes (the
conversion workers of ``[ingest] workers``, server/ingest/pool.py), and ``total_cpu_ms_per_1000``
both.

    python bench/ingest.py [--records 51200] [--batch 512] [--inflight 4] [--workers N] > ingest.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.proto import auditlog_pb2_grpc as pb_grpc
from bench import machine, procs

ORIGIN = "bench.example/ingest"
EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
_INGEST = re.compile(r"ingest on (http://127\.0\.0\.1:\d+)/")


def _export(run: str, first: int, count: int) -> bytes:
    records = []
    for i in range(first, first + count):
        attributes = {"user.id": f"user-{i % 97}", "event.name": "invoice.delete",
                      "url.path": f"/invoices/{i}", "event.outcome": "success", "run": run}
        records.append(LogRecord(
            time_unix_nano=1_764_467_100_000_000_000 + i, severity_number=SeverityNumber.SEVERITY_NUMBER_INFO,
            body=AnyValue(string_value=f"invoice {i} deleted by user-{i % 97} from 192.0.2.{i % 250}"),
            attributes=[KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attributes.items()],
        ))
    resource = ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])
    resource.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="billing")))
    return ExportLogsServiceRequest(resource_logs=[resource]).SerializeToString()


async def _pace(requests: list[Any], inflight: int, send: Any) -> tuple[float, list[Any]]:
    queue = list(reversed(requests))
    answers: list[Any] = []

    async def worker() -> None:
        while queue:
            answers.append(await send(queue.pop()))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    return time.perf_counter() - started, answers


def children_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds so far of the live child processes of ``pid``."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def measure(address: str, ingest_url: str, records: int, batch: int,
                  inflight: int, cpu: Callable[[], float] = lambda: 0.0,
                  workers_cpu: Callable[[], float] = lambda: 0.0) -> dict[str, Any]:
    """The three rates; ``cpu`` reads the server's CPU seconds so far, ``workers_cpu`` its
    conversion workers'."""
    count = records // batch
    out: dict[str, Any] = {}
    cpu_at, workers_at = cpu(), workers_cpu()

    def phase(name: str, seconds: float) -> None:
        nonlocal cpu_at, workers_at
        used, cpu_at = cpu() - cpu_at, cpu()
        helped, workers_at = workers_cpu() - workers_at, workers_cpu()
        out[name] = {"records": count * batch, "seconds": seconds, "per_s": count * batch / seconds,
                     "server_cpu_ms_per_1000": used * 1e6 / (count * batch),
                     "workers_cpu_ms_per_1000": helped * 1e6 / (count * batch),
                     "total_cpu_ms_per_1000": (used + helped) * 1e6 / (count * batch)}

    async with grpc.aio.insecure_channel(address, options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024)]) as channel:
        stub = pb_grpc.LogStub(channel)
        batches = [pb.AppendBatchRequest(log=ORIGIN, entries=[
            f"{n:08d}-{i:08d}".encode().ljust(256, b".") for i in range(batch)]) for n in range(count)]
        cpu_at, workers_at = cpu(), workers_cpu()
        seconds, answers = await _pace(batches, inflight, stub.AppendBatch)
        phase("append_batch", seconds)
        assert sum(len(a.results) for a in answers) == count * batch

        exports = [_export("grpc", n * batch, batch) for n in range(count)]
        call = channel.unary_unary(EXPORT, response_deserializer=ExportLogsServiceResponse.FromString)
        cpu_at, workers_at = cpu(), workers_cpu()
        seconds, answers = await _pace(exports, inflight, call)
        phase("otlp_grpc", seconds)
        assert all(a.partial_success.rejected_log_records == 0 for a in answers)

    exports = [_export("http", n * batch, batch) for n in range(count)]
    async with aiohttp.ClientSession() as session:

        async def post(body: bytes) -> int:
            async with session.post(ingest_url + "/v1/logs", data=body,
                                    headers={"Content-Type": "application/x-protobuf"}) as response:
                await response.read()
                return response.status

        cpu_at, workers_at = cpu(), workers_cpu()
        seconds, statuses = await _pace(exports, inflight, post)
        phase("otlp_http", seconds)
        assert statuses == [200] * count, statuses
    for name in ("otlp_grpc", "otlp_http"):
        out[name]["ratio_to_append_batch"] = out[name]["per_s"] / out["append_batch"]["per_s"]
    return out


def measure_otlp(records: int, batch: int = 512, inflight: int = 4,
                 workers: int | None = None) -> dict[str, Any]:
    """One server, the three rates of the module docstring (``workers``: ``[ingest] workers``,
    None for the server's default)."""
    with tempfile.TemporaryDirectory(prefix="auditlog-bench-ingest-") as scratch:
        config = procs.write_config(Path(scratch), (procs.LogSpec(ORIGIN),))
        with config.open("a") as f:
            f.write('\n[ingest]\nhttp_listen = "127.0.0.1:0"\nmax_request_bytes = 67108864\n'
                    + (f"workers = {workers}\n" if workers is not None else "")
                    + f'[ingest.otlp]\nlog = "{ORIGIN}"\n')
        server = procs.start_log_server(config)
        try:
            url = next(m.group(1) for line in server.output if (m := _INGEST.search(line)))
            return asyncio.run(measure(server.address, url, records, batch, inflight,
                                       server.cpu_seconds,
                                       lambda: children_cpu_seconds(server.pid)))
        finally:
            server.stop()


def run(records: int, messages: int, runs: int, log: Any) -> dict[str, Any]:
    """The ``ingest`` section of ``bench/run.py``: ``runs`` runs of the OTLP rates (``records``
    records in requests of 512) and of the syslog ones (``bench/ingest_syslog.py``,
    ``messages`` messages), each rate beside the AppendBatch rate of its own server and run."""
    from bench import ingest_syslog
    from bench.stats import summary

    otlp, syslog = [], []
    for n in range(runs):
        log(f"ingest: OTLP Export and OTLP/HTTP, {records} records, run {n + 1} of {runs}")
        otlp.append(measure_otlp(records))
        log(f"ingest: syslog over TLS and RELP, {messages} messages, run {n + 1} of {runs}")
        syslog.append(ingest_syslog.measure(messages))
    out: dict[str, Any] = {"records": records, "batch": 512, "messages": messages}
    for name in ("append_batch", "otlp_grpc", "otlp_http"):
        out[name] = {"rate": summary([r[name]["per_s"] for r in otlp], "records/s", 0),
                     "server_cpu_ms_per_1000": summary(
                         [r[name]["server_cpu_ms_per_1000"] for r in otlp], "ms", 1),
                     "workers_cpu_ms_per_1000": summary(
                         [r[name]["workers_cpu_ms_per_1000"] for r in otlp], "ms", 1)}
        if name != "append_batch":
            out[name]["ratio_to_append_batch"] = summary(
                [r[name]["ratio_to_append_batch"] for r in otlp], "", 3)
    out["syslog_append_batch"] = {
        "rate": summary([r["grpc_append_batch_per_s"] for r in syslog], "entries/s", 0)}
    out["syslog_append_batch"]["server_cpu_ms_per_1000"] = summary(
        [r["grpc_append_batch_cpu_ms_per_1000"] for r in syslog], "ms", 1)
    for name in ("syslog_tls", "relp"):
        out[name] = {"rate": summary([r[f"{name}_per_s"] for r in syslog], "messages/s", 0),
                     "ratio_to_append_batch": summary([r[f"{name}_vs_grpc"] for r in syslog],
                                                      "", 3),
                     "server_cpu_ms_per_1000": summary(
                         [r[f"{name}_cpu_ms_per_1000"] for r in syslog], "ms", 1),
                     "workers_cpu_ms_per_1000": summary(
                         [r[f"{name}_workers_cpu_ms_per_1000"] for r in syslog], "ms", 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=51200)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--inflight", type=int, default=4)
    parser.add_argument("--workers", type=int, default=None,
                        help="[ingest] workers of the server (default: the server's)")
    args = parser.parse_args()
    result = measure_otlp(args.records, args.batch, args.inflight, args.workers)
    result["meta"] = {"batch": args.batch, "inflight": args.inflight, "workers": args.workers,
                      "machine": machine.describe()}
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
