from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import RunningServer, running, write_server_config

ORIGIN = "test.example/log"
BLAKE_ORIGIN = "test.example/blake"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("server")
    config = write_server_config(
        directory, (ORIGIN,),
        extra_log="max_entry_bytes = 1024\nmax_batch_entries = 100\nmax_entries_page = 7",
    )
    with config.open("a") as f:
        f.write(f'\n[[log]]\norigin = "{BLAKE_ORIGIN}"\nhash = "blake3"\ndedup = false\n')
    yield from running(config)
