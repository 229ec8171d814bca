from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.witness.s3server import running_moto


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    yield from running_moto()
