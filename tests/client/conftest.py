from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditlog_tlog.client.cli import main
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.tree.keys import Ed25519Signer
from tests.servers import RunningServer, running, write_server_config

ORIGIN = "client.example/log"
NODEDUP = "client.example/nodedup"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server, two logs: ORIGIN (dedup, small batches and pages) and NODEDUP."""
    directory: Path = tmp_path_factory.mktemp("server")
    config = write_server_config(
        directory, (ORIGIN,), extra_log="max_batch_entries = 50\nmax_entries_page = 7"
    )
    with config.open("a") as f:
        f.write(f'\n[[log]]\norigin = "{NODEDUP}"\ndedup = false\n')
    yield from running(config)


def log_signer(server: RunningServer, origin: str = ORIGIN) -> Ed25519Signer:
    """The log's private key, read from the server's key file (to forge checkpoints with)."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in origin)
    args: list[str] = server.process.args  # type: ignore[assignment]
    cwd = Path(args[-1]).parent
    return Ed25519Signer.from_skey((cwd / "keys" / f"{name}.key").read_text().strip())


Run = tuple[int, str, str]


@pytest.fixture
def cli(server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Any:
    """``cli(*args)`` runs ``auditlog <command> <args> --server ... --log-key ...``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDITLOG_CONFIG", raising=False)
    with LogClient(server.address, ORIGIN) as client:
        vkey = client.log_info().verifier_key

    def run(command: str, *args: str, stdin: str = "", trust: bool = True) -> Run:
        common = ["--state-dir", str(tmp_path / "state")]
        if command != "verify":  # offline: it takes no server
            common += ["--server", server.address]
        if trust:
            common += ["--log-key", vkey]
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
        code = main([command, *common, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
