"""docs/ingestion.md says what the code does: the metric reasons it lists are those of
``server.ingest.sink.REASONS``, every one of them, and its example of a per-listener route
routes as its text says."""

from __future__ import annotations

import re
from pathlib import Path

from auditlog_tlog.server.config import parse_config
from auditlog_tlog.server.ingest.sink import REASONS

DOC = Path(__file__).resolve().parents[3] / "docs" / "ingestion.md"


def test_the_metric_reasons_listed_are_those_the_sink_counts() -> None:
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    found = re.search(r"`reason` one of (.*?)\. A request", text)
    assert found is not None
    listed = set(re.findall(r"`([a-z_]+)`", found.group(1)))
    assert listed == set(REASONS.values())


def test_the_per_listener_route_example_routes_as_the_text_says() -> None:
    block = next(b for b in re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
                 if "[ingest.otlp.grpc]" in b)
    logs = "".join(f'[[log]]\norigin = "auditlog.example/{n}"\n' for n in ("apps", "services", "x"))
    otlp = parse_config('[server]\n' + logs + '[ingest]\nhttp_listen = "127.0.0.1:4318"\n' + block,
                        Path("/etc/auditlog")).ingest.otlp
    assert otlp is not None
    named = {"auditlog.log": "auditlog.example/x"}
    assert otlp.grpc_route.pick(None, named) == otlp.grpc_route.pick(None, {}) == (
        "auditlog.example/services")
    assert otlp.http_route.pick(None, named) == "auditlog.example/x"
    assert otlp.http_route.pick(None, {}) == "auditlog.example/apps"
