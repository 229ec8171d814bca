"""deploy/prometheus/alerts.yml: well-formed rules that name only metrics the server and the
witness really export (collected from a running server's and a running witness's /metrics)."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.witness.app import WitnessApp
from auditlog_tlog.witness.config import parse_config
from tests.servers import start_server, write_server_config
from tests.witness.helpers import TestLog

RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "alerts.yml"
_SUFFIXES = ("", "_total", "_created", "_bucket", "_sum", "_count")


def _exported(metrics_url: str) -> set[str]:
    """Every series name a /metrics page can carry, from its # TYPE lines."""
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    names = re.findall(r"^# TYPE (\S+) \S+$", text, re.MULTILINE)
    return {name + suffix for name in names for suffix in _SUFFIXES}


def _server_metrics(tmp_path: Path) -> set[str]:
    witness = CosignatureSigner.generate("witness.example/w1")
    extra = f'[[log.witness]]\nvkey = "{witness.vkey()}"\n'
    server = start_server(write_server_config(tmp_path, ("alerts.example/log",), extra_log=extra))
    try:
        return _exported(server.metrics_url)
    finally:
        server.stop()


def _witness_metrics(tmp_path: Path) -> set[str]:
    log = TestLog()
    text = (f'[witness]\nname = "witness.example/w1"\nlisten = "127.0.0.1:0"\n'
            f'metrics_listen = "127.0.0.1:0"\n'
            f'[[log]]\norigin = "{log.origin}"\nvkey = "{log.signer.vkey()}"\n')
    app = WitnessApp(parse_config(text, tmp_path))
    app.start()
    try:
        assert app.metrics_http is not None
        return _exported(f"http://{app.metrics_http.address}/metrics")
    finally:
        app.stop()


def test_every_rule_is_complete_and_names_only_exported_metrics(tmp_path: Path) -> None:
    (tmp_path / "server").mkdir()
    (tmp_path / "witness").mkdir()
    exported = _server_metrics(tmp_path / "server") | _witness_metrics(tmp_path / "witness")
    doc: dict[str, Any] = yaml.safe_load(RULES.read_text())
    rules = [rule for group in doc["groups"] for rule in group["rules"]]
    assert len(rules) >= 10
    named: set[str] = set()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        used = set(re.findall(r"\bauditlog_[a-z0-9_]+", rule["expr"]))
        unknown = used - exported
        assert not unknown, f"{rule['alert']} names metrics nobody exports: {sorted(unknown)}"
        named |= used
    # What the operator must be able to alert on is covered by some rule.
    for metric in ("auditlog_checkpoint_age_seconds", "auditlog_cosigned_size",
                   "auditlog_quorum_size", "auditlog_sequencer_queue_entries",
                   "auditlog_database_bytes", "auditlog_witness_archive_writes_total",
                   "auditlog_witness_requests_total"):
        assert metric in named, metric

