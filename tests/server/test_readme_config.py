"""The hardened server config shown in README.md's Security section is a valid config."""

from __future__ import annotations

import re
from pathlib import Path

from auditlog_tlog.server.config import parse_config
from auditlog_tlog.tree.vkeys import parse_vkey

README = Path(__file__).resolve().parents[2] / "README.md"


def test_hardened_config_in_the_readme_parses() -> None:
    security = README.read_text().split("## Security", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```toml\n(.*?)```", security, re.S)[0]
    config = parse_config(block, Path("/etc/auditlog"))
    assert config.tls is not None and config.tls.client_ca_file is not None
    assert {p.name for p in config.principals} == {"payments-service", "auditors"}
    (log,) = config.logs
    assert log.require_signed_entries and log.keys[0].state == "active"
    assert [parse_vkey(k).name for k in log.appender_keys] == ["payments.internal"]
    assert log.quorum == 2 and len(log.witnesses) == 2


def test_hardened_witness_config_in_the_readme_parses() -> None:
    from auditlog_tlog.witness.config import parse_config as parse_witness_config

    security = README.read_text().split("## Security", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```toml\n(.*?)```", security, re.S)[1]
    config = parse_witness_config(block, Path("/etc/auditlog-witness"))
    assert config.name == "witness.example/w1"


def test_the_ingestion_config_in_the_readme_parses() -> None:
    """README.md, "Feed it from your pipeline": the server side, with the logs it names and
    the server's TLS it relies on, is a valid config with every source it shows."""
    feed = README.read_text().split("## Feed it from your pipeline", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```toml\n(.*?)```", feed, re.S)[0]
    logs = "".join(f'[[log]]\norigin = "auditlog.example/{name}"\n'
                   for name in ("apps", "k8s", "syslog", "web"))
    server = ('[server]\nlisten = "0.0.0.0:7600"\n[server.tls]\ncert_file = "tls/server.pem"\n'
              'key_file = "tls/server.key"\nclient_ca_file = "tls/ca.pem"\n')
    config = parse_config(server + logs + block, Path("/etc/auditlog"))
    ingest = config.ingest
    assert ingest.http_listen == "0.0.0.0:4318"
    assert ingest.otlp is not None and ingest.otlp.route.log == "auditlog.example/apps"
    assert ingest.kubernetes is not None and ingest.kubernetes.route.log == "auditlog.example/k8s"
    assert [(s.transport, s.tls is not None, s.udp) for s in ingest.syslog] == [
        ("relp", True, False), ("tls", True, False), ("udp", False, True)]
