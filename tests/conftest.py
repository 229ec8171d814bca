"""Session fixtures shared by the test packages: the S3 stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.seaweedfs import running_seaweedfs
from tests.witness.s3server import running_moto


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto_server: a fast S3 API that stores Object Lock settings but does not enforce them all."""
    yield from running_moto()


@pytest.fixture(scope="session")
def seaweed_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One SeaweedFS store (S3 gateway URL) for the whole session; tests make their own buckets."""
    yield from running_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
