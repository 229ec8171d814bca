"""The log server's metrics listener: /metrics only, a real /healthz, the counters and the
scrape-time gauges an operator alerts on, and the addresses each listener prints."""

from __future__ import annotations

import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.metrics_http import LogsCollector
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.errors import NotFoundError
from tests.servers import AUDITLOG, RunningServer, running, write_server_config

ORIGIN = "metrics.example/log"
WITNESS = CosignatureSigner.generate("witness.example/w1")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("metrics")
    extra = f'witness_quorum = 1\n[[log.witness]]\nvkey = "{WITNESS.vkey()}"\n'
    yield from running(write_server_config(directory, (ORIGIN,), extra_log=extra))


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode()
        exc.close()
        return exc.code, body


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if labels else "") + r" (\S+)"
    match = re.search("^" + pattern + "$", text, re.MULTILINE)
    assert match is not None, f"no sample {name}{{{want}}}"
    return float(match.group(1))


def test_metrics_only_on_metrics_and_a_real_healthz(server: RunningServer) -> None:
    base = server.metrics_url.removesuffix("/metrics")
    status, text = _get(server.metrics_url)
    assert status == 200 and "auditlog_tree_size" in text
    assert _get(base + "/healthz") == (200, "ok\n")
    for path in ("/", "/healthz/x", "/metric", "/favicon.ico"):
        status, body = _get(base + path)
        assert status == 404 and "want /metrics or /healthz" in body, path


def test_appended_entries_count_what_was_written_and_the_gauges_follow(
    server: RunningServer,
) -> None:
    before = sample(_get(server.metrics_url)[1], "auditlog_appended_entries_total", log=ORIGIN)
    stub = server.stub()
    entries = [b"metrics %d" % i for i in range(5)]
    stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=entries))
    stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=entries[:2]))  # duplicates
    stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"metrics 5", want_receipt=True))
    text = _get(server.metrics_url)[1]
    assert sample(text, "auditlog_appended_entries_total", log=ORIGIN) == before + 6
    size = sample(text, "auditlog_tree_size", log=ORIGIN)
    assert sample(text, "auditlog_checkpoint_size", log=ORIGIN) <= size
    assert sample(text, "auditlog_unsigned_entries", log=ORIGIN) >= 0
    assert sample(text, "auditlog_checkpoint_age_seconds", log=ORIGIN) >= 0
    assert sample(text, "auditlog_sequencer_queue_entries", log=ORIGIN) == 0
    assert sample(text, "auditlog_log_up", log=ORIGIN) == 1
    assert sample(text, "auditlog_quorum", log=ORIGIN) == 1
    assert sample(text, "auditlog_quorum_size", log=ORIGIN) == 0  # nobody cosigned
    assert sample(text, "auditlog_cosigned_size", log=ORIGIN,
                  witness=WITNESS.name) == 0
    assert sample(text, "auditlog_database_bytes") > 0


def test_each_listener_prints_the_port_it_really_bound(server: RunningServer) -> None:
    lines = "".join(server.output)
    ports = [int(p) for p in re.findall(r"(?:gRPC on |http://)127\.0\.0\.1:(\d+)", lines)]
    assert len(ports) == 3 and 0 not in ports and len(set(ports)) == 3, lines


# -- checkpoint age and witness sizes, in process with a fake clock ---------------------------


@dataclass
class FakeStore:
    size: int = 10
    checkpoint_size: int = 10


@dataclass
class FakeWitnesses:
    quorum: int = 1
    sizes: dict[str, int] = field(default_factory=dict)
    met: int = 0

    def cosigned_sizes(self) -> dict[str, int]:
        return dict(self.sizes)

    def quorum_size(self) -> int:
        return self.met


@dataclass
class FakeSequencer:
    queued: int = 0


@dataclass
class FakeConfig:
    witnesses: tuple[Any, ...]


@dataclass
class FakeRuntime:
    store: FakeStore = field(default_factory=FakeStore)
    witnesses: FakeWitnesses = field(default_factory=FakeWitnesses)
    queue: FakeSequencer = field(default_factory=FakeSequencer)
    failure: str | None = None
    config: FakeConfig = field(default_factory=lambda: FakeConfig(
        (type("W", (), {"vkey": WITNESS.vkey()})(),)))

    def sequencer(self) -> FakeSequencer:
        return self.queue

    def latest_checkpoint(self) -> tuple[bytes, int, list[str]]:
        raise NotFoundError("no cosigned note in this fake")


def _values(collector: LogsCollector) -> dict[str, float]:
    return {s.name + "/" + ",".join(s.labels.values()): s.value
            for family in collector.collect() for s in family.samples}


def test_checkpoint_age_grows_until_the_checkpoint_moves(tmp_path: Path) -> None:
    now = [1000.0]
    runtime = FakeRuntime()
    collector = LogsCollector(cast(Any, {"l": runtime}), tmp_path, clock=lambda: now[0])
    now[0] += 30
    runtime.store.size = 15  # written, not signed yet
    runtime.queue.queued = 7
    got = _values(collector)
    assert got["auditlog_checkpoint_age_seconds/l"] == 30
    assert got["auditlog_unsigned_entries/l"] == 5
    assert got["auditlog_sequencer_queue_entries/l"] == 7
    runtime.store.checkpoint_size = 15
    assert _values(collector)["auditlog_checkpoint_age_seconds/l"] == 0
    now[0] += 5
    assert _values(collector)["auditlog_checkpoint_age_seconds/l"] == 5
    runtime.witnesses.sizes, runtime.witnesses.met = {WITNESS.name: 12}, 12
    got = _values(collector)
    assert got[f"auditlog_cosigned_size/l,{WITNESS.name}"] == 12
    assert got["auditlog_quorum_size/l"] == 12
    runtime.failure = "stored root disagrees"
    got = _values(collector)
    assert got["auditlog_log_up/l"] == 0 and "auditlog_checkpoint_size/l" not in got


@pytest.mark.parametrize(("key", "what"), [("metrics_listen", "metrics HTTP"),
                                           ("http_listen", "tiles HTTP")])
def test_http_listeners_follow_the_listener_rule(tmp_path: Path, key: str, what: str) -> None:
    config = write_server_config(tmp_path, (ORIGIN,))
    config.write_text(config.read_text().replace(f'{key} = "127.0.0.1:0"', f'{key} = "0.0.0.0:0"'))
    result = subprocess.run([*AUDITLOG, "serve", "--config", str(config)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode != 0
    assert f"refusing plain-text {what} on 0.0.0.0:0" in result.stderr
    assert "insecure = true in [server]" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before the database was opened
