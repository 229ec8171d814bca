from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
