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
    assert set(data) >= {"meta", "baseline", "appends", "scale", "peer", "witness", "publication",
                         "restore", "ingest", "targets"}
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
        # Timed on a log at rest, the run right after the restart reported apart.
        assert stage["in_process"]["rest"]["quiet"] and stage["grpc"]["rest"]["quiet"]
        after = stage["grpc"]["after_restart"]
        assert after["consistency"]["ratio_to_empty_p50"] > 0
        assert _is_summary(after["health"]["background_cpu_us_per_call"])
        assert _is_summary(stage["grpc"]["inclusion"]["serving_cpu_us_per_call"])
        # Timed with the log's SST files held in the page cache, disk reads per call reported.
        assert stage["grpc"]["page_cache"]["files"] >= 1
        assert stage["in_process"]["page_cache"]["bytes"] > 0
        assert stage["grpc"]["consistency"]["disk_read_bytes_per_call"]["median"] >= 0
        assert stage["in_process"]["disk_read_bytes_per_proof"] >= 0
        assert _is_summary(stage["in_process"]["warm_up"]["consistency"]["p50"])
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


def test_publication_restore_and_ingest(report: tuple[dict[str, Any], Path]) -> None:
    data = report[0]
    publication = data["publication"]
    assert publication["entries"] == TINY.publication_entries
    assert _is_summary(publication["published"]) and publication["published"]["median"] > 0
    assert _is_summary(publication["bare_puts"]) and publication["bare_puts"]["median"] > 0
    assert publication["runs"][0]["objects_per_1000"] > 0
    restore = data["restore"]
    for key in ("processes_1", "processes_0"):
        assert _is_summary(restore[key]["rate"]) and restore[key]["rate"]["median"] > 0
        assert _is_summary(restore[key]["ratio_to_bare_rows"])
    ingest = data["ingest"]
    for name in ("otlp_grpc", "otlp_http", "syslog_tls", "relp"):
        assert ingest[name]["rate"]["median"] > 0
        assert ingest[name]["ratio_to_append_batch"]["median"] > 0
    wanted = {"publication at", "restore of", "OTLP Export", "syslog over TLS", "RELP"}
    assert {w for w in wanted for t in data["targets"] if t["target"].startswith(w)} == wanted


def test_targets_and_plots(report: tuple[dict[str, Any], Path]) -> None:
    data, out = report
    assert all({"target", "want", "measured", "met"} <= set(t) for t in data["targets"])
    assert len(data["targets"]) >= 10
    assert (out / "proof_latency.png").stat().st_size > 1000
    assert (out / "append_throughput.png").stat().st_size > 1000
