"""The console's overview in process, with a fake clock: the alerts ``auditlog monitor`` would
raise (stalled, quorum, fork, unavailable), each only when it holds; and reads refused without
the ``read`` role."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from auditlog_tlog.server.anchors import LogHaltedError
from auditlog_tlog.server.console.api import GRACE_S, ConsoleReader
from auditlog_tlog.server.metrics_http import LogsCollector
from auditlog_tlog.server.security import Authorizer, Principal, hash_token
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.errors import PermissionDeniedError, UnauthenticatedError

WITNESS = CosignatureSigner.generate("witness.example/w1")


@dataclass
class FakeStore:
    size: int = 10
    checkpoint_size: int = 10


@dataclass
class FakeWitnesses:
    quorum: int = 1
    sizes: dict[str, int] = field(default_factory=dict)
    met: int = 10

    def cosigned_sizes(self) -> dict[str, int]:
        return dict(self.sizes)

    def quorum_size(self) -> int:
        return self.met


@dataclass(frozen=True)
class FakeWitnessConfig:
    vkey: str = WITNESS.vkey()
    url: str = "http://127.0.0.1:1/"


@dataclass(frozen=True)
class FakeConfig:
    origin: str = "l"
    hash: str = "sha256"
    quorum: int = 1
    witnesses: tuple[FakeWitnessConfig, ...] = (FakeWitnessConfig(),)


@dataclass
class FakeRuntime:
    store: FakeStore = field(default_factory=FakeStore)
    witnesses: FakeWitnesses = field(default_factory=FakeWitnesses)
    config: FakeConfig = field(default_factory=FakeConfig)
    failure: str | None = None
    halted: LogHaltedError | None = None
    publisher: Any = None
    keys: tuple[Any, ...] = ()
    verifier_key: str = "l+00000000+AQ=="

    def latest_checkpoint(self) -> tuple[bytes, int, list[str]]:
        size = self.store.checkpoint_size
        return f"l\n{size}\nroot\n\n— l sig\n".encode(), size, []


def _reader(runtime: FakeRuntime, now: list[float], authorizer: Authorizer | None = None,
            tmp_path: Path = Path("/nonexistent")) -> ConsoleReader:
    logs = cast(Any, {"l": runtime})
    collector = LogsCollector(logs, tmp_path, clock=lambda: now[0])
    return ConsoleReader(logs, authorizer or Authorizer((), frozenset()), collector)


def _kinds(reader: ConsoleReader) -> list[str]:
    return [a["kind"] for a in reader.logs(None)["logs"][0]["alerts"]]


def test_stalled_and_quorum_alerts_wait_for_the_grace() -> None:
    now = [1000.0]
    runtime = FakeRuntime()
    reader = _reader(runtime, now)
    assert _kinds(reader) == []
    runtime.store.size = 15  # written, not signed
    now[0] += GRACE_S - 1
    assert _kinds(reader) == []
    now[0] += 1
    assert _kinds(reader) == ["stalled"]
    runtime.store.checkpoint_size = 15  # signed, not cosigned by the quorum
    assert _kinds(reader) == []  # the age starts again at the new size
    now[0] += GRACE_S
    (log,) = reader.logs(None)["logs"]
    assert [a["kind"] for a in log["alerts"]] == ["quorum"]
    assert "has lacked 1 witness cosignatures" in log["alerts"][0]["message"]
    assert log["witnesses"] == [{"name": WITNESS.name, "vkey": WITNESS.vkey(),
                                 "url": "http://127.0.0.1:1/", "cosigned_size": 0}]
    runtime.witnesses.sizes, runtime.witnesses.met = {WITNESS.name: 15}, 15
    (log,) = reader.logs(None)["logs"]
    assert log["alerts"] == [] and log["witnesses"][0]["cosigned_size"] == 15


def test_a_halted_log_is_a_fork_alert_with_its_evidence() -> None:
    runtime = FakeRuntime()
    runtime.halted = LogHaltedError("the tree does not extend the anchor", "anchor file",
                                    (b"anchor note\n", b"local note\n"))
    (alert,) = _reader(runtime, [0.0]).logs(None)["logs"][0]["alerts"]
    assert alert["kind"] == "fork" and alert["evidence"] == ["anchor note\n", "local note\n"]


def test_a_log_that_refuses_service_says_why() -> None:
    runtime = FakeRuntime(failure="stored root disagrees")
    (log,) = _reader(runtime, [0.0]).logs(None)["logs"]
    assert log["size"] is None
    assert log["alerts"] == [{"kind": "unavailable", "evidence": [],
                              "message": "log l refuses service: stored root disagrees"}]


def test_reads_need_the_read_role() -> None:
    reader_principal = Principal("auditor", {"l": frozenset({"read"})},
                                 token_sha256=bytes.fromhex(hash_token("s3cret")))
    other = Principal("app", {"l": frozenset({"append"})},
                      token_sha256=bytes.fromhex(hash_token("other")))
    reader = _reader(FakeRuntime(), [0.0], Authorizer((reader_principal, other), frozenset()))
    with pytest.raises(UnauthenticatedError):
        reader.logs(None)
    with pytest.raises(UnauthenticatedError):
        reader.logs("Bearer wrong")
    assert reader.logs("Bearer other") == {"logs": []}
    assert reader.logs("Bearer s3cret")["logs"][0]["origin"] == "l"
    with pytest.raises(UnauthenticatedError):
        reader.entry({"log": "l", "index": "0"}, None)
    with pytest.raises(PermissionDeniedError):
        reader.checkpoints({"log": "l"}, "Bearer other")
