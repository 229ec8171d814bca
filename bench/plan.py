"""How much each profile measures: ``full`` (make bench), ``quick`` (make bench-quick, under a
minute) and ``tiny`` (the smoke test). All three run the same code paths."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    runs: int                    # repeats of every figure (median, min, max over them)
    seconds: float               # time bound of one timed run
    latency_calls: int           # calls in one latency run (bounded by ``seconds`` too)
    max_rate_calls: int          # calls available to one 16-in-flight rate run
    stream_messages: int         # empty messages in one stream baseline run
    write_calls: int             # synced one-put WriteBatches per run
    unary_calls: int             # Append calls available to one unary_1 run
    append_entries: int          # entries in one AppendBatch / AppendStream run
    batch_size: int              # entries per AppendBatch request / AppendStream message
    sweep: tuple[int, ...]       # batch sizes for throughput vs batch size
    sweep_messages: int          # requests per sweep point at most
    sizes: tuple[int, ...]       # tree sizes for proofs, restart, RSS and disk
    build_batch: int             # entries per AppendStream message when building the datasets
    proof_calls: int             # in-process proofs per run
    grpc_proof_calls: int        # proof calls over gRPC per run
    restarts: int                # server restarts timed at each size
    peer_sizes: tuple[int, ...]  # pymerkle tree sizes (each one of ``sizes``)
    peer_seconds: float          # time bound of each pymerkle phase
    peer_proofs: int             # pymerkle proofs per run at most
    witness_requests: int        # add-checkpoint requests per run
    witness_step: int            # new leaves per checkpoint sent to the witness
    witness_appends: int         # appends timed until co-signed, at most
    witness_seconds: float       # time bound of the append-to-cosigned phase
    # publication, restore and ingest sections (issues 12 and 14); their own count of runs
    section_runs: int = 3               # repeats of each of these figures
    publication_entries: int = 100_000  # entries published per run
    publication_rate: int = 100_000     # entries appended per second (one round a second)
    restore_entries: int = 400_000      # entries of the published log that is restored
    ingest_records: int = 51_200        # OTLP records per rate (requests of 512)
    syslog_messages: int = 100_000      # syslog messages per rate (TLS, RELP)
    search_size: int = 10_000_000  # entries of the searched log (built in process)
    search_calls: int = 300        # searches timed per run, in process and over gRPC
    search_append_entries: int = 200_000  # entries per run of append throughput, index on/off

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FULL = Plan(
    name="full", runs=5, seconds=2.0, latency_calls=4000, max_rate_calls=60_000,
    stream_messages=20_000, write_calls=300, unary_calls=4000, append_entries=100_000,
    batch_size=1000, sweep=(1, 10, 100, 1000, 10_000), sweep_messages=20_000,
    sizes=(10_000, 1_000_000, 10_000_000), build_batch=1000, proof_calls=5000,
    grpc_proof_calls=3000, restarts=5, peer_sizes=(10_000, 1_000_000), peer_seconds=60.0,
    peer_proofs=2000, witness_requests=300, witness_step=100, witness_appends=50,
    witness_seconds=20.0,
)

QUICK = Plan(
    name="quick", runs=3, seconds=0.4, latency_calls=600, max_rate_calls=8000,
    stream_messages=4000, write_calls=100, unary_calls=600, append_entries=20_000,
    batch_size=1000, sweep=(1, 10, 100, 1000), sweep_messages=2000,
    sizes=(10_000, 100_000), build_batch=1000, proof_calls=1000, grpc_proof_calls=500,
    restarts=3, peer_sizes=(10_000,), peer_seconds=5.0, peer_proofs=300, witness_requests=100,
    witness_step=100, witness_appends=5, witness_seconds=2.0,
    section_runs=1, publication_entries=10_000, publication_rate=10_000,
    restore_entries=140_000, ingest_records=10_240, syslog_messages=10_000, search_size=100_000,
    search_calls=200, search_append_entries=50_000,
)

TINY = Plan(
    name="tiny", runs=1, seconds=0.1, latency_calls=30, max_rate_calls=200,
    stream_messages=200, write_calls=10, unary_calls=30, append_entries=400,
    batch_size=100, sweep=(1, 100), sweep_messages=20, sizes=(300, 1000), build_batch=100,
    proof_calls=30, grpc_proof_calls=30, restarts=1, peer_sizes=(300,), peer_seconds=1.0,
    peer_proofs=20, witness_requests=5, witness_step=10, witness_appends=2, witness_seconds=2.0,
    section_runs=1, publication_entries=600, publication_rate=300, restore_entries=600,
    ingest_records=1024, syslog_messages=1000,
    search_size=3000, search_calls=10, search_append_entries=2000,
)

PLANS = {plan.name: plan for plan in (FULL, QUICK, TINY)}
