"""Session fixtures shared by the test packages: the S3 stores, and bytecode for subprocesses."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.seaweedfs import running_seaweedfs
from tests.witness.s3server import running_moto


@pytest.fixture(scope="session", autouse=True)
def subprocess_bytecode() -> Iterator[None]:
    """Where the environment forbids bytecode beside the sources (PYTHONDONTWRITEBYTECODE), every
    ``auditlog`` subprocess the tests start would compile each module it imports again (~0.3 s of
    CPU a start); they share one bytecode cache in the virtualenv instead (kept across sessions:
    a first start compiles every module it imports, the site packages' too)."""
    if not sys.flags.dont_write_bytecode:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
        patch.setenv("PYTHONPYCACHEPREFIX", str(Path(sys.prefix) / "pycache"))
        yield


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto_server: a fast S3 API that stores Object Lock settings but does not enforce them all."""
    yield from running_moto()


@pytest.fixture(scope="session")
def seaweed_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One SeaweedFS store (S3 gateway URL) for the whole session; tests make their own buckets."""
    yield from running_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
