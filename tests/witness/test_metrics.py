"""The witness's metrics listener: requests by status, cosigned size per log, archive writes
and errors, /healthz, and the listener rule for metrics_listen."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlog_tlog.tree.errors import StorageError
from auditlog_tlog.witness.app import WitnessApp
from auditlog_tlog.witness.config import parse_config
from auditlog_tlog.witness.metrics import MeteredArchive, WitnessMetrics
from tests.witness.helpers import MemoryArchive, TestLog, add_checkpoint


def _config(log: TestLog, extra: str = 'metrics_listen = "127.0.0.1:0"') -> str:
    return (f'[witness]\nname = "witness.example/w1"\nlisten = "127.0.0.1:0"\n{extra}\n'
            f'[[log]]\norigin = "{log.origin}"\nvkey = "{log.signer.vkey()}"\n')


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode()
        exc.close()
        return exc.code, body


def sample(text: str, name: str, labels: str = "") -> float:
    match = re.search("^" + re.escape(name + (f"{{{labels}}}" if labels else "")) + r" (\S+)$",
                      text, re.MULTILINE)
    assert match is not None, f"no sample {name}{{{labels}}} in:\n{text}"
    return float(match.group(1))


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[WitnessApp, TestLog, str]]:
    log = TestLog()
    app = WitnessApp(parse_config(_config(log), tmp_path))
    app.start()
    assert app.metrics_http is not None
    try:
        yield app, log, f"http://{app.metrics_http.address}"
    finally:
        app.stop()


def test_requests_cosigned_sizes_and_archive_writes_are_counted(
    running: tuple[WitnessApp, TestLog, str],
) -> None:
    app, log, base = running
    assert app.http is not None
    origin = f'origin="{log.origin}"'
    assert sample(get(base + "/metrics")[1], "auditlog_witness_cosigned_size", origin) == 0
    assert add_checkpoint(app.http.port, log.body(0, 4)).status == 200
    assert add_checkpoint(app.http.port, log.body(0, 5)).status == 409
    assert add_checkpoint(app.http.port, log.body(4, 6, proof=[bytes(32)])).status == 422
    status, text = get(base + "/metrics")
    assert status == 200
    assert sample(text, "auditlog_witness_cosigned_size", origin) == 4
    for code in ("200", "409", "422"):
        labels = f'code="{code}",endpoint="add-checkpoint"'
        assert sample(text, "auditlog_witness_requests_total", labels) == 1
    assert sample(text, "auditlog_witness_archive_writes_total",
                  'kind="cosigned",outcome="written"') == 1
    assert sample(text, "auditlog_witness_archive_writes_total",
                  'kind="evidence",outcome="written"') == 1
    assert get(base + "/healthz") == (200, "ok\n")
    assert get(base + "/")[0] == 404


def test_archive_errors_are_counted_and_still_raised() -> None:
    metrics = WitnessMetrics()
    archive = MeteredArchive(MemoryArchive(fail=True), metrics)
    with pytest.raises(StorageError):
        archive.put("cosigned/x", b"note")
    errors = metrics.registry.get_sample_value(
        "auditlog_witness_archive_writes_total", {"kind": "cosigned", "outcome": "error"})
    assert errors == 1


def test_metrics_listen_follows_the_listener_rule(tmp_path: Path) -> None:
    log = TestLog()
    config = parse_config(_config(log, 'metrics_listen = "0.0.0.0:0"'), tmp_path)
    with pytest.raises(ValueError, match=r"refusing plain-text metrics HTTP on 0\.0\.0\.0:0"):
        WitnessApp(config).start()
    assert not (tmp_path / "witness.key").exists()  # refused before anything was created
