"""``make bench``: the performance budget (BENCHMARKS.md) measured in one run.

Every figure is the median of several runs with their min and max; where the machine's speed
matters, the same run measures a baseline (an empty gRPC call, a synced RocksDB write, raw
hashing) and reports a ratio to it. ``bench/run.py`` is the entry point; one module per area:

    plan           how much each profile (full, quick, tiny) measures
    stats          medians, percentiles, min/max of repeated runs
    machine        what the run ran on: CPU, cores, load, memory; RSS and disk use of a process
    procs          servers as subprocesses on 127.0.0.1, stopped by PID; CPU pinning for latency
    empty_server   the do-nothing gRPC servicer that the baselines call
    workload       unique incompressible 256-byte entries and the requests that carry them
    load           grpc.aio load generators and the blocking latency loop
    baseline       empty unary call, client stream, leaf hashing, synced WriteBatch
    appends        Append / AppendBatch / AppendStream over gRPC, durable acknowledgement
    scale          the 10^4 .. 10^7 datasets built over gRPC; proofs, restart, RSS, disk per size
    peer           pymerkle's in-memory and SQLite trees on the same workload
    witness        add-checkpoint requests/s and append-to-cosigned latency
    report         the JSON report, the tables and the targets met or missed
    plot           PNG plots of proof latency vs tree size and append throughput vs batch size
    profile_server py-spy on the server under one workload (the profiles in BENCHMARKS.md)
"""
