"""``make bench``: the performance budget of ../shared/DESIGN.md measured in one run.

Every figure is the median of several runs with their min and max; where the machine's speed
matters, the same run measures a baseline (an empty gRPC call, a synced RocksDB write, raw
hashing) and reports a ratio to it. ``bench/run.py`` is the entry point; one module per area:

    stats      medians, percentiles, min/max of repeated runs
    machine    what the run ran on: CPU, cores, load, memory; RSS and disk use of a process
    procs      the log server and the empty gRPC servicer as subprocesses on 127.0.0.1
    baseline   empty unary call, client stream, leaf hashing, synced WriteBatch
    appends    Append / AppendBatch / AppendStream over gRPC, durable acknowledgement
    scale      the 10^4 .. 10^7 datasets built over gRPC; proofs, restart, RSS, disk per size
    peer       pymerkle's in-memory and SQLite trees on the same workload
    witness    witness throughput and append-to-cosigned latency (when witness/ is usable)
    report     the JSON report, the terminal table and the targets met or missed
    plot       PNG plots of proof latency vs tree size and append throughput vs batch size
"""
