"""The benchmark code runs end to end on tiny sizes and writes a well-formed report.

This checks the benchmark, not the performance: sizes are tiny and no target is asserted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import run
from bench.plan import TINY


def _is_summary(figure: Any) -> bool:
    return (
        isinstance(figure, dict)
        and {"median", "min", "max", "runs", "unit"} <= set(figure)
        and figure["min"] <= figure["median"] <= figure["max"]
        and len(figure["runs"]) >= 1
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench")
    assert run.main(["--profile", "tiny", "--out", str(out)]) == 0
    return json.loads((out / "latest-tiny.json").read_text()), out


def test_report_has_every_section(report: tuple[dict[str, Any], Path]) -> None:
    data, _ = report
    assert set(data) >= {"meta", "baseline", "appends", "scale", "peer", "witness", "targets"}
    meta = data["meta"]
    assert meta["plan"]["name"] == "tiny"
    assert meta["machine"]["nproc"] >= 1 and meta["machine"]["cpu_model"]
    assert len(meta["load_start"]) == 3 and len(meta["load_end"]) == 3


def test_baselines_are_summaries(report: tuple[dict[str, Any], Path]) -> None:
    base = report[0]["baseline"]
    assert _is_summary(base["empty"]["unary_1"]["p50"])
    assert _is_summary(base["empty"]["unary_16_rate"])
    assert _is_summary(base["empty"]["client_stream"])
    assert _is_summary(base["health"]["unary_1"]["p99"])
    assert _is_summary(base["hashing"]["sha256_leaves"])
    assert _is_summary(base["hashing"]["blake3_leaves"])
    assert _is_summary(base["rocksdb"]["one_put"]["p50"])


def test_appends_cover_every_log_and_the_sweep(report: tuple[dict[str, Any], Path]) -> None:
    appends = report[0]["appends"]
    assert len(appends["logs"]) == 5
    for figures in appends["logs"].values():
        for kind in ("batch", "stream"):
            assert _is_summary(figures[kind]["rate"])
            assert figures[kind]["rate"]["median"] > 0
        assert _is_summary(figures["unary_16"]["ratio_to_empty_16"])
    assert [p["batch_size"] for p in appends["sweep"]["stream"]] == list(TINY.sweep)


def test_scale_measures_every_size(report: tuple[dict[str, Any], Path]) -> None:
    scale = report[0]["scale"]
    assert [s["size"] for s in scale["sizes"]] == list(TINY.sizes)
    for stage in scale["sizes"]:
        assert stage["in_process"]["verified"]
        assert _is_summary(stage["in_process"]["inclusion"]["p50"])
        assert stage["grpc"]["inclusion"]["ratio_to_empty_p50"] > 0
        assert stage["disk"]["bytes_per_entry"] > 0
        assert stage["rss_after_proofs_mib"] > 0
        assert _is_summary(stage["restart_s"])


def test_peer_and_witness_entries(report: tuple[dict[str, Any], Path]) -> None:
    data = report[0]
    (row,) = data["peer"]["sizes"]
    assert row["inmemory"]["root_matches_ours"]
    assert row["sqlite"]["append"]["durable"]
    assert data["witness"]["measured"] in (True, False)
    if not data["witness"]["measured"]:
        assert "not measured" in data["witness"]["reason"]


def test_targets_and_plots(report: tuple[dict[str, Any], Path]) -> None:
    data, out = report
    assert all({"target", "want", "measured", "met"} <= set(t) for t in data["targets"])
    assert len(data["targets"]) >= 10
    assert (out / "proof_latency.png").stat().st_size > 1000
    assert (out / "append_throughput.png").stat().st_size > 1000
