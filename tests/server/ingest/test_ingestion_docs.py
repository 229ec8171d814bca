"""docs/ingestion.md says what the code does: the metric reasons it lists are those of
``server.ingest.sink.REASONS``, every one of them."""

from __future__ import annotations

import re
from pathlib import Path

from auditlog_tlog.server.ingest.sink import REASONS

DOC = Path(__file__).resolve().parents[3] / "docs" / "ingestion.md"


def test_the_metric_reasons_listed_are_those_the_sink_counts() -> None:
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    found = re.search(r"`reason` one of (.*?)\. A request", text)
    assert found is not None
    listed = set(re.findall(r"`([a-z_]+)`", found.group(1)))
    assert listed == set(REASONS.values())
