"""Two PNG plots from a report: proof latency against tree size, and append throughput against
the number of entries per request. Medians, with min-max of the runs as error bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _errors(figures: list[dict[str, Any]]) -> tuple[list[float], list[list[float]]]:
    medians = [f["median"] for f in figures]
    low = [f["median"] - f["min"] for f in figures]
    high = [f["max"] - f["median"] for f in figures]
    return medians, [low, high]


def plot(report: dict[str, Any], directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    meta = report["meta"]
    machine = f"{meta['machine']['nproc']} cores, {meta['machine']['cpu_model']}"
    scale = report.get("scale")
    if scale and scale["sizes"]:
        fig, ax = plt.subplots(figsize=(8, 5))
        sizes = [s["size"] for s in scale["sizes"]]
        series = [
            ("inclusion, in process", "in_process", "inclusion", "o-"),
            ("consistency, in process", "in_process", "consistency", "s-"),
            ("inclusion, gRPC", "grpc", "inclusion", "o--"),
            ("consistency, gRPC", "grpc", "consistency", "s--"),
            ("empty unary gRPC call", "grpc", "empty", "k:"),
        ]
        for label, where, kind, style in series:
            y, err = _errors([s[where][kind]["p50"] for s in scale["sizes"]])
            ax.errorbar(sizes, y, yerr=err, fmt=style, capsize=3, label=label)
        peer = report.get("peer")
        if peer:
            for kind, style in (("sqlite", "v-."), ("inmemory", "^-.")):
                px = [row["size"] for row in peer["sizes"]]
                y, err = _errors([row[kind]["inclusion"]["p50"] for row in peer["sizes"]])
                ax.errorbar(px, y, yerr=err, fmt=style, capsize=3,
                            label=f"pymerkle {kind}, inclusion")
        ax.axhline(50, color="grey", linewidth=0.8)
        ax.text(sizes[0], 52, "50 µs budget (in process)", color="grey", fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("tree size (entries)")
        ax.set_ylabel("p50 latency per proof (µs)")
        ax.set_title(f"Proof latency vs tree size ({machine})", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        path = directory / "proof_latency.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    appends = report.get("appends")
    if appends and appends["sweep"]["batch"]:
        fig, ax = plt.subplots(figsize=(8, 5))
        for kind, label, style in (("batch", "AppendBatch, 4 in flight", "o-"),
                                   ("stream", "AppendStream, one stream", "s-")):
            points = appends["sweep"][kind]
            x = [p["batch_size"] for p in points]
            y, err = _errors([p["rate"] for p in points])
            ax.errorbar(x, y, yerr=err, fmt=style, capsize=3, label=label)
        ax.axhline(100_000, color="grey", linewidth=0.8)
        ax.text(1, 102_000, "100,000 entries/s budget", color="grey", fontsize=8)
        top = max(p["rate"]["max"] for k in ("batch", "stream") for p in appends["sweep"][k])
        ax.set_ylim(0, max(120_000, top * 1.1))
        ax.set_xscale("log")
        ax.set_xlabel("entries per request / stream message")
        ax.set_ylabel("entries/s (durable acknowledgement)")
        ax.set_title(f"Append throughput vs batch size, 256-byte entries ({machine})",
                     fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        path = directory / "append_throughput.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
