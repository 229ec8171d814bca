"""The [ingest] configuration shown in docs/ingestion.md is a valid config."""

from __future__ import annotations

import re
from pathlib import Path

from auditlog_tlog.server.config import parse_config

DOC = Path(__file__).resolve().parents[3] / "docs" / "ingestion.md"


def test_the_ingest_config_in_the_docs_parses() -> None:
    block = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S)[0]
    logs = "".join(f'[[log]]\norigin = "auditlog.example/{n}"\n' for n in ("apps", "payments", "k8s"))
    config = parse_config('[server]\n[server.tls]\ncert_file = "s.pem"\nkey_file = "s.key"\n'
                          + logs + block, Path("/etc/auditlog"))
    ingest = config.ingest
    assert ingest.http_listen == "0.0.0.0:4318" and ingest.max_request_bytes == 16 * 1024 * 1024
    assert ingest.otlp is not None and ingest.otlp.route.attribute == "auditlog.log"
    assert ingest.kubernetes is not None and ingest.kubernetes.route.log == "auditlog.example/k8s"
