"""Witnessing: add-checkpoint requests/s, and the time from an append to a co-signed checkpoint.

``add_checkpoint``: a witness process (``auditlog witness``, local write-once archive) is sent
consecutive checkpoints of one log over HTTP (c2sp.org/tlog-witness), each with the consistency
proof from the previous one, on one keep-alive connection. Each request makes the witness
verify the log's signature and the proof, persist its compare-and-swap state, archive the
cosigned checkpoint (O_EXCL file, fsync) and cosign: requests/s is the sequential rate a log
can push at. The checkpoints are made here, from an in-memory tree of ``step`` new leaves per
checkpoint, signed with a key the witness is configured to trust.

``append_to_cosigned``: a log server with that witness as a push witness ([[log.witness]]).
One entry is appended (unary, durable), then GetCheckpoint is polled every millisecond until
the checkpoint covers the entry and carries the witness's cosignature. The log pushes when it
signs (``server.signal``), on a kept-alive connection.

Standalone, for paired runs: ``python -m bench.witness --requests 300 --appends 30 --out x.json``;
with ``--against OTHER_CHECKOUT`` a witness of that checkout and one of this one are timed in
alternating rounds in the same minutes (``paired``).
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.proto import auditlog_pb2_grpc as pb_grpc
from auditlog_tlog.tree.checkpoint import Checkpoint
from auditlog_tlog.tree.compact import CompactRange
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import sign_note
from auditlog_tlog.tree.proof import consistency_plan
from auditlog_tlog.tree.witness_protocol import AddCheckpointRequest, format_add_checkpoint
from bench import procs
from bench.baseline import unary_p50
from bench.empty_server import UNARY
from bench.plan import QUICK, Plan
from bench.procs import REPO
from bench.stats import latency_summary, summary
from bench.workload import entry

ORIGIN = "bench.example/witnessed"
WITNESS = "bench.example/witness"
# Issue 18 asks for 2,000 add-checkpoint/s on one connection, set on the machine of 2026-11-23.
# This machine is slower by 3.64x (SHA-256 leaf hashing, 2.55 M/s then, 0.70 M/s in the idle
# full run of 2026-11-30 13:21) to 5.96x (the empty unary gRPC call's p50, 105 µs then, 626 µs
# at 13:21). The goal as a ratio to the same run's bare aiohttp POST: 2,000/s over what that
# POST would have done there, its rate here times 3.64, the smallest slowdown (a larger one
# would make the goal easier). Against the empty call: requests/s times its p50 (s) >= 2,000 x
# 105 µs = 0.21, which assumes the larger slowdown (docs/witness-speed.md, "The goal").
GOAL_RATE = 2000
WARMUP = 10  # requests on a new connection before each timed run
GOAL_EMPTY_CALL_P50_S = 105e-6
CPU_SLOWDOWN = 3.64
GOAL_RATIO_TO_EMPTY_CALL = round(GOAL_RATE * GOAL_EMPTY_CALL_P50_S, 3)
_HTTP = re.compile(r"serving tlog-witness on http://(127\.0\.0\.1:\d+)")
_BARE = re.compile(r"serving HTTP on (127\.0\.0\.1:\d+)")


class _Tree:
    """An in-memory RFC 6962 tree that keeps every complete node, for consistency proofs."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.compact = CompactRange(SHA256)
        self.count = 0

    def grow(self, leaves: int) -> None:
        hashes = [SHA256.hash_leaf(entry("witness", n)) for n in range(self.count, self.count + leaves)]
        self.compact.extend(hashes, lambda node, h: self.nodes.__setitem__((node.level, node.index), h))
        self.count += leaves

    def consistency(self, size1: int, size2: int) -> tuple[bytes, ...]:
        plan = consistency_plan(size1, size2)
        return plan.fold(SHA256, [self.nodes[(n.level, n.index)] for n in plan.ids])


def _bodies(signer: Ed25519Signer, count: int, step: int) -> list[bytes]:
    tree = _Tree()
    bodies = []
    old = 0
    for _ in range(count):
        tree.grow(step)
        size = tree.count
        note = sign_note(Checkpoint(ORIGIN, size, tree.compact.root()).to_text(), [signer])
        proof = tree.consistency(old, size)
        bodies.append(format_add_checkpoint(AddCheckpointRequest(old, proof, note)))
        old = size
    return bodies


def _write_witness_config(directory: Path, log_vkey: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "witness.toml"
    path.write_text(
        f'[witness]\nname = "{WITNESS}"\nkey_file = "witness.key"\nlisten = "127.0.0.1:0"\n'
        f'state_dir = "state"\n\n[archive]\ntype = "local"\ndir = "archive"\n\n'
        f'[[log]]\norigin = "{ORIGIN}"\nvkey = "{log_vkey}"\n'
    )
    return path


def _start_witness(config: Path, repo: Path = REPO) -> tuple[procs.Process, str, str]:
    argv = [sys.executable, "-m", "auditlog_tlog.client.cli", "witness", "--config", str(config)]
    process = procs.start(argv, config.parent, "auditlog witness: ready", _HTTP.pattern,
                          pythonpath=repo)
    text = "".join(process.output)
    address = process.address
    vkey = m.group(1) if (m := re.search(r"auditlog witness: key (\S+)", text)) else ""
    if not address or not vkey:
        process.stop()
        raise RuntimeError("witness did not say where it listens:\n" + text)
    return process, address, vkey


def _post(conn: http.client.HTTPConnection, body: bytes, check: bool) -> None:
    conn.request("POST", "/add-checkpoint", body)
    response = conn.getresponse()
    answer = response.read()
    if response.status != 200 or (check and not answer.startswith("— ".encode())):
        raise AssertionError(f"{conn.host}:{conn.port} answered {response.status}: {answer!r}")


def _post_run(process: procs.Process, address: str, bodies: list[bytes],
              check: bool) -> dict[str, Any]:
    """POST ``bodies`` in order on one kept-alive connection, the first ``WARMUP`` untimed:
    requests/s, latencies, and the CPU time per request of the server process and of this
    client thread."""
    host, port = address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        for body in bodies[:WARMUP]:
            _post(conn, body, check)
        bodies = bodies[WARMUP:]
        samples = []
        cpu_before, client_before = process.cpu_seconds(), time.thread_time()
        started = time.perf_counter()
        for body in bodies:
            sent = time.perf_counter()
            _post(conn, body, check)
            samples.append(time.perf_counter() - sent)
        elapsed = time.perf_counter() - started
        return {"rate": len(bodies) / elapsed, "samples": samples,
                "server_cpu_us": (process.cpu_seconds() - cpu_before) / len(bodies) * 1e6,
                "client_cpu_us": (time.thread_time() - client_before) / len(bodies) * 1e6}
    finally:
        conn.close()


def _empty_call_p50(plan: Plan) -> dict[str, Any]:
    """The baseline section's empty unary gRPC call, p50 of one caller, in this section."""
    server = procs.start_empty_server()
    try:
        p50: dict[str, Any] = unary_p50(server, UNARY, b"", plan)["p50"]
        return p50
    finally:
        server.stop()


def add_checkpoint(plan: Plan, scratch: Path) -> dict[str, Any]:
    """Runs of ``witness_requests`` add-checkpoints on one connection, each after a run of the
    same bodies to the bare aiohttp POST handler (``bench.bare_post``), from the same client."""
    signer = Ed25519Signer.generate(ORIGIN)
    per_run = WARMUP + plan.witness_requests
    bodies = _bodies(signer, per_run * plan.runs, plan.witness_step)
    empty_p50 = _empty_call_p50(plan)
    witness, address, _ = _start_witness(_write_witness_config(scratch / "witness-a",
                                                               signer.vkey()))
    bare = procs.start([sys.executable, "-m", "bench.bare_post"], REPO, "serving HTTP",
                       _BARE.pattern)
    runs: list[dict[str, Any]] = []
    baselines: list[dict[str, Any]] = []
    try:
        for r in range(plan.runs):
            chunk = bodies[r * per_run:(r + 1) * per_run]
            baselines.append(_post_run(bare, bare.address, chunk, check=False))
            runs.append(_post_run(witness, address, chunk, check=True))
    finally:
        bare.stop()
        witness.stop()
    ratios = [w["rate"] / b["rate"] for w, b in zip(runs, baselines, strict=True)]
    empty_s = empty_p50["median"] / 1e6
    bare_rate = summary([b["rate"] for b in baselines], "requests/s", 1)
    return {
        "rate": summary([w["rate"] for w in runs], "requests/s", 1),
        "latency": latency_summary([w["samples"] for w in runs]),
        "witness_cpu_us_per_request": summary([w["server_cpu_us"] for w in runs], "µs", 1),
        "client_cpu_us_per_request": summary([w["client_cpu_us"] for w in runs], "µs", 1),
        "bare_post": {
            "rate": bare_rate,
            "latency": latency_summary([b["samples"] for b in baselines]),
            "server_cpu_us_per_request": summary([b["server_cpu_us"] for b in baselines],
                                                 "µs", 1),
        },
        "ratio_to_bare_post": summary(ratios, "", 3),
        "empty_unary_p50_us": empty_p50,
        "ratio_to_empty_call": summary([w["rate"] * empty_s for w in runs], "", 3),
        "goal_ratio_to_empty_call": GOAL_RATIO_TO_EMPTY_CALL,
        "goal_ratio_to_bare_post": round(GOAL_RATE / (bare_rate["median"] * CPU_SLOWDOWN), 3),
        "leaves_per_checkpoint": plan.witness_step,
        "requests_per_run": plan.witness_requests,
    }


def paired(plan: Plan, scratch: Path, other: Path) -> dict[str, Any]:
    """A witness of this checkout and one of ``other`` (another checkout of the repository,
    e.g. main's), side by side: ``plan.runs`` rounds of ``witness_requests`` on one connection
    to each, in alternating order, each round after a run to the bare POST. Per round and
    side: requests/s, p50 and the witness process's CPU per request; and the per-round ratios
    of this checkout to ``other``, the figures to judge a change by on a shared machine."""
    signer = Ed25519Signer.generate(ORIGIN)
    per_run = WARMUP + plan.witness_requests
    bodies = _bodies(signer, per_run * plan.runs, plan.witness_step)
    witnesses = {side: _start_witness(_write_witness_config(scratch / f"paired-{side}",
                                                            signer.vkey()), repo)
                 for side, repo in (("before", other), ("after", REPO))}
    bare = procs.start([sys.executable, "-m", "bench.bare_post"], REPO, "serving HTTP",
                       _BARE.pattern)
    rounds: list[dict[str, Any]] = []
    try:
        for r in range(plan.runs):
            chunk = bodies[r * per_run:(r + 1) * per_run]
            row = {"bare": _post_run(bare, bare.address, chunk, check=False),
                   "load": os.getloadavg()[0]}
            for side in ("before", "after") if r % 2 == 0 else ("after", "before"):
                process, address, _ = witnesses[side]
                row[side] = _post_run(process, address, chunk, check=True)
            rounds.append(row)
    finally:
        bare.stop()
        for process, _, _ in witnesses.values():
            process.stop()

    def figures(runs: list[dict[str, Any]], cpu: str) -> dict[str, Any]:
        return {"rate": summary([x["rate"] for x in runs], "requests/s", 1),
                "latency": latency_summary([x["samples"] for x in runs]),
                "cpu_us_per_request": summary([x[cpu] for x in runs], "µs", 1)}

    def ratios(key: str) -> dict[str, Any]:
        return summary([x["after"][key] / x["before"][key] for x in rounds], "", 3)

    return {
        "other": str(other),
        "before": figures([x["before"] for x in rounds], "server_cpu_us"),
        "after": figures([x["after"] for x in rounds], "server_cpu_us"),
        "bare_post": figures([x["bare"] for x in rounds], "server_cpu_us"),
        "after_over_before": {"rate": ratios("rate"), "cpu": ratios("server_cpu_us")},
        "ratio_to_bare_post": {
            side: summary([x[side]["rate"] / x["bare"]["rate"] for x in rounds], "", 3)
            for side in ("before", "after")},
        "load": summary([x["load"] for x in rounds], "", 2),
        "requests_per_run": plan.witness_requests,
    }


def append_to_cosigned(plan: Plan, scratch: Path) -> dict[str, Any]:
    directory = scratch / "witness-b"
    directory.mkdir(parents=True, exist_ok=True)
    signer = Ed25519Signer.generate(ORIGIN)
    key_file = directory / "log.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(signer.skey() + "\n")
    witness, address, witness_vkey = _start_witness(_write_witness_config(directory / "w",
                                                                          signer.vkey()))
    try:
        spec = procs.LogSpec(ORIGIN, extra=(
            f'key_file = "{key_file}"\n\n[[log.witness]]\nvkey = "{witness_vkey}"\n'
            f'url = "http://{address}"\n'))
        server = procs.start_log_server(procs.write_config(directory / "log", (spec,)))
        try:
            samples, appended = _cosigned_latencies(server.address, plan)
        finally:
            server.stop()
    finally:
        witness.stop()
    # The append's own share (durable write and signature) of the time to a cosigned checkpoint.
    return {"latency": latency_summary([samples], 1e3, "ms"), "unit": "ms",
            "appends": len(samples), "append_latency": latency_summary([appended], 1e3, "ms")}


def _cosigned_latencies(address: str, plan: Plan) -> tuple[list[float], list[float]]:
    channel = grpc.insecure_channel(address)
    try:
        stub = pb_grpc.LogStub(channel)
        samples: list[float] = []
        appended: list[float] = []
        deadline = time.perf_counter() + plan.witness_seconds
        n = 0
        while len(samples) < plan.witness_appends and time.perf_counter() < deadline:
            started = time.perf_counter()
            result = stub.Append(pb.AppendRequest(log=ORIGIN, entry=entry("cosign", n))).result
            appended.append(time.perf_counter() - started)
            n += 1
            while time.perf_counter() - started < 30:
                checkpoint = stub.GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN))
                if checkpoint.size > result.index and WITNESS in checkpoint.witnesses:
                    break
                time.sleep(0.001)
            else:
                raise AssertionError(f"entry {result.index} was not cosigned within 30 s")
            samples.append(time.perf_counter() - started)
        return samples, appended
    finally:
        channel.close()


def run(plan: Plan, scratch: Path) -> dict[str, Any]:
    return {
        "measured": True,
        "add_checkpoint": add_checkpoint(plan, scratch),
        "append_to_cosigned": append_to_cosigned(plan, scratch),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="add-checkpoints per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--appends", type=int, default=30, help="appends timed until cosigned")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--against", type=Path, help="another checkout: paired rounds of "
                        "add-checkpoint against its witness (--runs rounds) instead")
    args = parser.parse_args()
    plan = dataclasses.replace(QUICK, runs=args.runs, witness_requests=args.requests,
                               witness_appends=args.appends, witness_seconds=60.0)
    if args.against is not None:
        with tempfile.TemporaryDirectory(prefix="bench-witness-") as scratch:
            pair = paired(plan, Path(scratch), args.against.resolve())
        args.out.write_text(json.dumps(pair, indent=1))
        print(f"before {pair['before']['rate']['median']} requests/s, CPU "
              f"{pair['before']['cpu_us_per_request']['median']} µs; after "
              f"{pair['after']['rate']['median']} requests/s, CPU "
              f"{pair['after']['cpu_us_per_request']['median']} µs; after / before: rate "
              f"{pair['after_over_before']['rate']['median']}, CPU "
              f"{pair['after_over_before']['cpu']['median']}; ratio to the bare POST "
              f"{pair['ratio_to_bare_post']['before']['median']} -> "
              f"{pair['ratio_to_bare_post']['after']['median']}; load "
              f"{pair['load']['median']}")
        return
    with tempfile.TemporaryDirectory(prefix="bench-witness-") as scratch:
        result = run(plan, Path(scratch))
    args.out.write_text(json.dumps(result, indent=1))
    add, cosigned = result["add_checkpoint"], result["append_to_cosigned"]
    bare = add["bare_post"]
    print(f"add-checkpoint {add['rate']['median']} requests/s, p50 "
          f"{add['latency']['p50']['median']} µs, witness CPU "
          f"{add['witness_cpu_us_per_request']['median']} µs a request; bare POST "
          f"{bare['rate']['median']} requests/s, CPU {bare['server_cpu_us_per_request']['median']}"
          f" µs; ratio to it {add['ratio_to_bare_post']['median']} (goal "
          f"{add['goal_ratio_to_bare_post']}); empty unary call p50 "
          f"{add['empty_unary_p50_us']['median']} µs, rate x p50 "
          f"{add['ratio_to_empty_call']['median']} (goal {add['goal_ratio_to_empty_call']}); "
          f"append -> cosigned p50 "
          f"{cosigned['latency']['p50']['median']} ms (the append itself "
          f"{cosigned['append_latency']['p50']['median']} ms)")

if __name__ == "__main__":
    main()
