"""Search needs what every read needs: public_read, or a principal with the read role; over
HTTP 401/403 with a JSON error, over gRPC UNAUTHENTICATED/PERMISSION_DENIED."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.security import hash_token
from tests.servers import RunningServer, running, write_server_config

PRIVATE_A, PRIVATE_B = "a.example/searched", "b.example/searched"
TOKEN = "reader-secret"
PRINCIPAL = f"""
[[principal]]
name = "reader"
token_sha256 = "{hash_token(TOKEN)}"
roles = {{ "{PRIVATE_A}" = ["read"] }}
"""


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("search-access")
    config = write_server_config(directory, (PRIVATE_A, PRIVATE_B))
    with config.open("a") as f:
        f.write(PRINCIPAL)
    yield from running(config)


def _http(server: RunningServer, log: str, token: str | None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(f"{server.tiles_url}/api/v1/search?log={log}&actor=alice")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
        exc.close()
        return exc.code, body


@pytest.mark.parametrize(("log", "token", "status", "code"), [
    (PRIVATE_A, None, 401, grpc.StatusCode.UNAUTHENTICATED),
    (PRIVATE_A, "wrong", 401, grpc.StatusCode.UNAUTHENTICATED),
    (PRIVATE_B, TOKEN, 403, grpc.StatusCode.PERMISSION_DENIED),
    (PRIVATE_A, TOKEN, 200, grpc.StatusCode.OK),
])
def test_search_is_a_read(secured: RunningServer, log: str, token: str | None, status: int,
                          code: grpc.StatusCode) -> None:
    got, body = _http(secured, log, token)
    assert got == status and (("error" in body) == (status != 200))
    metadata = () if token is None else (("authorization", f"Bearer {token}"),)
    request = pb.SearchRequest(log=log, filters=[pb.SearchFilter(field="actor", pattern="alice")])
    try:
        response = secured.stub().Search(request, metadata=metadata, timeout=10)
        assert code == grpc.StatusCode.OK and response.tree_size == 0
    except grpc.RpcError as exc:
        assert exc.code() == code
