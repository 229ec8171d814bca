"""The report: the targets of the performance budget (BENCHMARKS.md) checked against the measurements,
a short table for the terminal, and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEFAULT_LOG = "bench.example/sha256-dedup"


def fmt_size(n: int) -> str:
    exponent = len(str(n)) - 1
    return f"10^{exponent}" if n == 10**exponent else f"{n:,}"


def _median(figure: dict[str, Any]) -> float:
    value: float = figure["median"]
    return value


def _target(name: str, want: str, got: float | None, met: bool | None, note: str = "") -> dict[str, Any]:
    return {"target": name, "want": want, "measured": got, "met": met, "note": note}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    appends = report.get("appends")
    scale = report.get("scale")
    peer = report.get("peer")
    if appends:
        default = appends["logs"][DEFAULT_LOG]
        for kind in ("stream", "batch"):
            rate = _median(default[kind]["rate"])
            size = default[kind]["batch_size"]
            out.append(_target(
                f"Append{kind.capitalize()} ({size}/msg), entries/s", ">= 250000", rate,
                rate >= 250_000, "sha256, dedup on"))
        base = report.get("baseline")
        if base and "rocksdb" in base:
            # What the disk and RocksDB alone allow: 1,000 entries per synced WriteBatch.
            capacity = 1000 / (_median(base["rocksdb"]["batch_1000_entries"]) / 1e6)
            for kind in ("batch", "stream"):
                share = _median(default[kind]["rate"]) / capacity
                out.append(_target(
                    f"Append{kind.capitalize()} / synced-WriteBatch capacity (1000 entries)",
                    ">= 0.25", round(share, 3), share >= 0.25,
                    f"capacity {capacity:,.0f} entries/s in the same run"))
        ratio = _median(default["unary_16"]["ratio_to_empty_16"])
        out.append(_target("unary Append, 16 callers / empty unary call, 16 in flight",
                           ">= 0.70", ratio, ratio >= 0.70, "median of per-run ratios"))
    if scale and scale["sizes"]:
        largest = scale["sizes"][-1]
        size = fmt_size(largest["size"])
        build = largest["build"]["rate"]
        out.append(_target(f"sustained AppendStream while building to {size}, entries/s",
                           ">= 150000", build, build >= 150_000))
        for kind in ("inclusion", "consistency"):
            p50 = _median(largest["in_process"][kind]["p50"])
            out.append(_target(f"{kind} proof in process at {size}, p50 µs", "<= 50", p50,
                               p50 <= 50))
        for kind in ("inclusion", "consistency"):
            ratio = largest["grpc"][kind]["ratio_to_empty_p50"]
            out.append(_target(f"{kind} proof over gRPC at {size} / empty unary call (p50)",
                               "<= 1.3", ratio, ratio <= 1.3))
        restart = _median(largest["restart_s"])
        out.append(_target(f"restart at {size}, s (spawn to serving)", "< 1", restart,
                           restart < 1))
        first = scale["sizes"][0]
        growth = largest["rss_after_proofs_mib"] / first["rss_after_proofs_mib"]
        out.append(_target(
            f"server RSS at {size} / at {fmt_size(first['size'])}", "flat (<= 1.25)",
            round(growth, 2), growth <= 1.25,
            f"{first['rss_after_proofs_mib']} -> {largest['rss_after_proofs_mib']} MiB"))
    if peer and scale:
        ours = {s["size"]: s for s in scale["sizes"]}
        for row in peer["sizes"]:
            size = row["size"]
            if size not in ours:
                continue
            for kind in ("inclusion", "consistency"):
                theirs = _median(row["sqlite"][kind]["p50"])
                mine = _median(ours[size]["in_process"][kind]["p50"])
                speedup = round(theirs / mine, 1)
                out.append(_target(
                    f"{kind} proof vs pymerkle SqliteTree at {fmt_size(size)} (speedup)",
                    ">= 50", speedup, speedup >= 50, f"{theirs} µs vs {mine} µs"))
        if appends:
            stream = _median(appends["logs"][DEFAULT_LOG]["stream"]["rate"])
            for row in peer["sizes"]:
                bulk = row["sqlite"]["append"]["rate"]
                out.append(_target(
                    f"durable AppendStream vs pymerkle SqliteTree bulk append at "
                    f"{fmt_size(row['size'])} (ratio)", "> 1", round(stream / bulk, 2),
                    stream > bulk, f"{stream:.0f} vs {bulk} entries/s"))
    witness = report.get("witness")
    if witness and witness.get("measured"):
        rate = _median(witness["add_checkpoint"]["rate"])
        out.append(_target("witness add-checkpoint on one connection, requests/s", ">= 2000",
                           rate, rate >= 2000))
        add = witness["add_checkpoint"]
        if "ratio_to_bare_post" in add:  # reports before the same-run baselines lack them
            share, goal = _median(add["ratio_to_bare_post"]), add["goal_ratio_to_bare_post"]
            out.append(_target(
                "witness add-checkpoint / bare aiohttp POST, same client and run", f">= {goal}",
                share, share >= goal,
                f"bare {_median(add['bare_post']['rate'])}/s x 3.64 = the goal's machine; "
                "docs/witness-speed.md"))
            share, goal = _median(add["ratio_to_empty_call"]), add["goal_ratio_to_empty_call"]
            out.append(_target(
                "witness add-checkpoint/s x empty unary call p50 (s), same run", f">= {goal}",
                share, share >= goal, "assumes the empty call's 5.96x slowdown: lenient"))
        p50 = _median(witness["append_to_cosigned"]["latency"]["p50"])
        out.append(_target("append -> checkpoint cosigned by a witness, p50 ms", "<= 25", p50,
                           p50 <= 25))
    out += _section_targets(report)
    return out


def _section_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Issues 12, 14 and 15: publication, restore, ingestion and search, each with its same-run
    baseline."""
    out = _search_targets(report.get("search"))
    pub = report.get("publication")
    if pub:
        rate = _median(pub["published"])
        out.append(_target(
            f"publication at {pub['rate_entries_per_s']:,} appends/s, entries/s published",
            ">= 100000", rate, rate >= 100_000,
            f"{_median(pub['ratio_to_bare_puts'])} of bare PUTs; lag p50/p99 "
            f"{_median(pub['lag_p50'])}/{_median(pub['lag_p99'])} s"))
    restore = report.get("restore")
    if restore:
        modes = [k for k in ("processes_2", "processes_1", "processes_0") if k in restore]
        mode = max(modes, key=lambda k: _median(restore[k]["rate"]))  # the note is its own
        best = _median(restore[mode]["rate"])
        out.append(_target(
            f"restore of {fmt_size(restore['entries'])} entries from files, entries/s",
            ">= 200000", round(best), best >= 200_000,
            f"{mode.replace('_', ' ')}; writer {_median(restore[mode]['per_cpu_s']):,.0f}/CPU-s; "
            f"{_median(restore[mode]['ratio_to_bare_rows'])} of a bare write of its rows"))
    ingest = report.get("ingest")
    if ingest:
        for name, label, want in (("otlp_grpc", "OTLP Export (512/request), records", 100_000),
                                  ("syslog_tls", "syslog over TLS, messages", 50_000),
                                  ("relp", "RELP, messages", 20_000)):
            rate = round(_median(ingest[name]["rate"]))
            out.append(_target(
                f"{label}/s, durable", f">= {want}", rate, rate >= want,
                f"{_median(ingest[name]['ratio_to_append_batch'])} of AppendBatch, same run"))
    return out


def _search_targets(search: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issue 15: the 100 newest results for one actor with proofs, and what the index costs."""
    if not search:
        return []
    size = fmt_size(search["size"])
    p50 = _median(search["in_process"]["actor_top"]["p50"]) / 1000
    out = [_target(f"search, 100 newest of the top actor with proofs, in process at {size}, "
                   "p50 ms", "<= 5", round(p50, 2), p50 <= 5, "1,000 actors, Zipf-like")]
    for key, label in (("append_batch_grpc", "AppendBatch over gRPC"),
                       ("append", "synced appends in process")):
        ratio = search[key]["on_off_ratio"]
        out.append(_target(f"{label}, index on / off", ">= 0.80", ratio, ratio >= 0.80,
                           "the index may cost at most 20 %"))
    return out


def _row(cells: list[str], widths: list[int], markdown: bool) -> str:
    if markdown:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


_MARKDOWN = False


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    rule = ["---" if _MARKDOWN else "-" * w for w in widths]
    lines = [_row(header, widths, _MARKDOWN), _row(rule, widths, _MARKDOWN)]
    lines += [_row(r, widths, _MARKDOWN) for r in rows]
    return "\n".join(lines)


def _mmm(figure: dict[str, Any], digits: int = 0) -> str:
    f = f"{{:,.{digits}f}}"
    return f"{f.format(figure['median'])} ({f.format(figure['min'])}-{f.format(figure['max'])})"


def table(report: dict[str, Any], markdown: bool = False) -> str:
    """The terminal summary (or, with ``markdown``, the tables of BENCHMARKS.md): medians with
    (min-max) of the runs."""
    global _MARKDOWN
    _MARKDOWN = markdown
    try:
        return _tables(report)
    finally:
        _MARKDOWN = False


def _tables(report: dict[str, Any]) -> str:
    parts = []
    meta = report["meta"]
    m = meta["machine"]
    parts.append(
        f"auditlog bench ({meta['plan']['name']}): {m['nproc']} cores, {m['cpu_model']}, "
        f"load {meta['load_start']} -> {meta['load_end']}, {meta['seconds']:.0f} s"
    )
    base = report.get("baseline")
    if base:
        e = base["empty"]
        rows = [
            ["empty unary call, p50", _mmm(e["unary_1"]["p50"], 1) + " µs"],
            ["empty unary call, 16 in flight", _mmm(e["unary_16_rate"]) + " calls/s"],
            ["health Check on the log server, p50", _mmm(base["health"]["unary_1"]["p50"], 1)
             + " µs"],
            ["client stream of empty messages", _mmm(e["client_stream"]) + " msg/s"],
            ["bidi stream of empty messages", _mmm(e["bidi_stream"]) + " msg/s"],
            ["SHA-256 leaf hash, 256 B", _mmm(base["hashing"]["sha256_leaves"]) + " leaves/s"],
            ["BLAKE3 leaf hash, 256 B", _mmm(base["hashing"]["blake3_leaves"]) + " leaves/s"],
            ["synced WriteBatch, 1 put, p50",
             _mmm(base["rocksdb"]["one_put"]["p50"], 1) + " µs"],
            ["synced WriteBatch, 1000 entries", _mmm(base["rocksdb"]["batch_1000_entries"])
             + " µs"],
        ]
        for mode, label in (("rocksdb_sync", "rocksdict synced write"),
                            ("database", "Database.write (own fdatasync)")):
            if mode in base.get("gil", {}):
                rows.append([f"GIL wait of another thread during {label}, p50",
                             _mmm(base["gil"][mode]["lag"]["p50"], 1) + " µs"])
        parts.append(_table(["baseline", "median (min-max)"], rows))
    appends = report.get("appends")
    if appends:
        rows = []
        for origin, f in appends["logs"].items():
            rows.append([
                origin.rsplit("/", 1)[1],
                _mmm(f["unary_1"]["p50"]) + " µs",
                _mmm(f["unary_16"]["rate"]),
                _mmm(f["unary_16"]["ratio_to_empty_16"], 2),
                _mmm(f["batch"]["rate"]),
                _mmm(f["stream"]["rate"]),
            ])
        parts.append(_table(
            ["appends (entries/s)", "unary 1: p50", "unary 16", "/empty", "batch", "stream"], rows))
    scale = report.get("scale")
    if scale:
        rows = []
        for s in scale["sizes"]:
            ip, g = s["in_process"], s["grpc"]
            rows.append([
                fmt_size(s["size"]),
                f"{s['build']['rate']:,}",
                f"{ip['inclusion']['p50']['median']:.1f} / {ip['consistency']['p50']['median']:.1f}",
                f"{g['inclusion']['p50']['median']:.0f} / {g['inclusion']['p99']['median']:.0f}",
                f"{g['inclusion']['ratio_to_empty_p50']:.2f} / "
                f"{g['consistency']['ratio_to_empty_p50']:.2f}",
                f"{s['restart_s']['median']:.2f}",
                f"{s['rss_after_proofs_mib']:.0f} / {s['build_peak_rss_mib']:.0f}",
                f"{s['disk']['bytes_per_entry']:.0f}",
            ])
        parts.append(_table(
            ["size", "build e/s", "proof µs incl/cons", "gRPC incl p50/p99 µs", "gRPC/empty",
             "restart s", "RSS / build peak MiB", "disk B/entry"], rows))
    peer = report.get("peer")
    if peer:
        rows = []
        for row in peer["sizes"]:
            for kind in ("inmemory", "sqlite"):
                f = row[kind]
                rows.append([
                    f"{kind} {fmt_size(row['size'])}",
                    f"{f['append']['rate']:,}",
                    f"{f['inclusion']['p50']['median']:.1f}",
                    f"{f['consistency']['p50']['median']:.1f}",
                    f"{f['inclusion']['cold_ms']:.1f}",
                ])
        parts.append(_table(
            ["pymerkle", "append e/s", "incl p50 µs", "cons p50 µs", "cold ms"], rows))
    rows = [
        [t["target"], t["want"], str(t["measured"]),
         "met" if t["met"] else "MISSED", t["note"]]
        for t in report.get("targets", [])
    ]
    if rows:
        parts.append(_table(["target", "want", "measured", "", "note"], rows))
    parts += _section_tables(report)
    witness = report.get("witness")
    if witness and not witness.get("measured"):
        parts.append(f"witness: {witness['reason']}")
    elif witness:
        add = witness["add_checkpoint"]
        cosigned = witness["append_to_cosigned"]["latency"]
        parts.append(_table(["witness", "median (min-max)"], [
            ["add-checkpoint, one connection", _mmm(add["rate"], 1) + " requests/s"],
            ["add-checkpoint latency, p50", _mmm(add["latency"]["p50"]) + " µs"],
            *([["bare aiohttp POST, same client", _mmm(add["bare_post"]["rate"], 1)
                + " requests/s"],
               ["add-checkpoint / bare POST", _mmm(add["ratio_to_bare_post"], 3)],
               ["add-checkpoint/s x empty-call p50", _mmm(add["ratio_to_empty_call"], 3)]]
              if "bare_post" in add else []),
            ["append -> co-signed checkpoint, p50", _mmm(cosigned["p50"], 1) + " ms"],
            ["append -> co-signed checkpoint, p99", _mmm(cosigned["p99"], 1) + " ms"],
        ]))
    return "\n\n".join(parts)


def _section_tables(report: dict[str, Any]) -> list[str]:
    parts = []
    pub = report.get("publication")
    if pub:
        parts.append(_table(["publication", "median (min-max)"], [
            ["entries published", _mmm(pub["published"]) + " entries/s"],
            ["objects written", _mmm(pub["objects"]) + " objects/s"],
            ["client CPU per object", _mmm(pub["client_cpu_ms_per_object"], 2) + " ms"],
            ["bare PUTs, same store and run", _mmm(pub["bare_puts"]) + " objects/s"],
            ["objects / bare PUTs", _mmm(pub["ratio_to_bare_puts"], 3)],
            ["lag p50 / p99", f"{_median(pub['lag_p50'])} / {_median(pub['lag_p99'])} s"],
        ]))
    restore = report.get("restore")
    if restore:
        rows = []
        for key, label in (("processes_2", "2 worker processes"), ("processes_1", "worker process"),
                           ("processes_0", "threads")):
            if key not in restore:
                continue
            f = restore[key]
            rows.append([label, _mmm(f["rate"]), _mmm(f["per_cpu_s"]), _mmm(f["bare_rows"]),
                         _mmm(f["ratio_to_bare_rows"], 3)])
        parts.append(_table([f"restore {fmt_size(restore['entries'])}", "entries/s",
                             "per CPU-s (writer)", "bare rows/s", "/bare"], rows))
    ingest = report.get("ingest")
    if ingest:
        def cpu(name: str) -> str:  # absent from reports before it was measured
            figure = ingest[name].get("server_cpu_ms_per_1000")
            return "" if figure is None else _mmm(figure, 1)

        rows = [["AppendBatch (OTLP run)", _mmm(ingest["append_batch"]["rate"]), "",
                 cpu("append_batch")]]
        for name, label in (("otlp_grpc", "OTLP gRPC Export"), ("otlp_http", "OTLP/HTTP")):
            rows.append([label, _mmm(ingest[name]["rate"]),
                         _mmm(ingest[name]["ratio_to_append_batch"], 3), cpu(name)])
        rows.append(["AppendBatch (syslog run)", _mmm(ingest["syslog_append_batch"]["rate"]), "",
                     cpu("syslog_append_batch")])
        for name, label in (("syslog_tls", "syslog over TLS"), ("relp", "RELP")):
            rows.append([label, _mmm(ingest[name]["rate"]),
                         _mmm(ingest[name]["ratio_to_append_batch"], 3), cpu(name)])
        parts.append(_table(["ingestion", "per s", "/AppendBatch",
                             "server CPU ms / 1,000"], rows))
    return parts


def write(report: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = report["meta"]["started"].replace(":", "").replace("-", "")
    path = directory / f"bench-{report['meta']['plan']['name']}-{stamp}.json"
    text = json.dumps(report, indent=1, ensure_ascii=False)
    path.write_text(text)
    (directory / f"latest-{report['meta']['plan']['name']}.json").write_text(text)
    return path
