"""What a process imports before it serves (issue 18, restart < 1 s): a log server that does not
publish, ingest or serve tiles loads neither boto3 nor those modules, and an auditor's client
command loads neither the server nor boto3. Each check runs in a fresh interpreter, since this
test process has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Modules that only a configuration asking for them may load.
OPTIONAL = ("boto3", "botocore", "s3transfer", "opentelemetry", "auditlog_tlog.server.publisher",
            "auditlog_tlog.server.retention", "auditlog_tlog.server.holds",
            "auditlog_tlog.server.console", "auditlog_tlog.server.tiles_http",
            "auditlog_tlog.server.search_http", "auditlog_tlog.server.ingest.otlp",
            "auditlog_tlog.server.ingest.http", "auditlog_tlog.server.ingest.syslog_server",
            "auditlog_tlog.server.ingest.pool",
            "auditlog_tlog.client.")


def _loaded_after(code: str) -> list[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=True)
    return list(json.loads(done.stdout.splitlines()[-1]))


def _matching(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p.rstrip(".") + ".") for p in prefixes)]


def test_the_log_server_loads_no_optional_module_before_it_is_configured() -> None:
    loaded = _loaded_after("import auditlog_tlog.server.app")
    assert "auditlog_tlog.server.sequencer" in loaded, "the check loaded nothing"
    assert _matching(loaded, OPTIONAL) == []


def test_the_serve_command_loads_no_client_module() -> None:
    loaded = _loaded_after(
        "from auditlog_tlog.client.cli import build_parser\n"
        "build_parser(['serve', '--config', 'x.toml']).parse_args(['serve', '--config', 'x.toml'])")
    assert "auditlog_tlog.client.cli" in loaded
    assert _matching(loaded, ("auditlog_tlog.client.context", "auditlog_tlog.client.bucket",
                              "auditlog_tlog.client.restore", "boto3")) == []


def test_an_auditors_verify_loads_neither_the_server_nor_boto3() -> None:
    loaded = _loaded_after(
        "from auditlog_tlog.client.cli import build_parser\n"
        "args = build_parser(['verify', 'r.tlog-proof']).parse_args(['verify', 'r.tlog-proof'])\n"
        "import auditlog_tlog.client.commands")
    assert "auditlog_tlog.client.commands" in loaded
    assert _matching(loaded, ("auditlog_tlog.server", "auditlog_tlog.storage", "boto3",
                              "botocore", "rocksdict")) == []
