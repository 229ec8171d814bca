"""Hostile gRPC input to the Log service that the fuzz tests (tests/server/test_fuzz.py) do not
reach: metadata, and values the RFC 3339 parser let through (docs/input-hardening.md, "gRPC")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.security import hash_token
from tests.servers import RunningServer, running, write_server_config

LOG = "a.example/log"
TOKENS = {"reader": "r-secret", "admin": "a-secret"}
PRINCIPALS = f"""
[[principal]]
name = "reader"
token_sha256 = "{hash_token(TOKENS['reader'])}"
roles = {{ "{LOG}" = ["read"] }}

[[principal]]
name = "admin"
token_sha256 = "{hash_token(TOKENS['admin'])}"
roles = {{ "*" = ["admin"] }}
"""


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("hostile")
    config = write_server_config(directory, (LOG,))
    with config.open("a") as f:
        f.write(PRINCIPALS)
    yield from running(config)


def _bearer(who: str) -> tuple[str, str]:
    return ("authorization", f"Bearer {TOKENS[who]}")


def _code(call: Callable[..., object], *args: object, **kwargs: object
          ) -> tuple[grpc.StatusCode, str]:
    try:
        call(*args, **kwargs)
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize("first", ["reader", "admin"])
def test_two_authorization_values_are_refused_whichever_comes_first(
        secured: RunningServer, first: str) -> None:
    # The first value used to decide alone: a caller behind a proxy that adds its own
    # credential could put another in front of it, and which one counted depended on order.
    other = "admin" if first == "reader" else "reader"
    code, details = _code(secured.stub().GetLogInfo, pb.GetLogInfoRequest(log=LOG),
                          metadata=(_bearer(first), _bearer(other)), timeout=10)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "got 2 values, want one" in details
    # One credential alone still works.
    assert secured.stub().GetLogInfo(pb.GetLogInfoRequest(log=LOG), metadata=(_bearer(first),),
                                     timeout=10).origin == LOG


@pytest.mark.parametrize("since", [
    "2026-01-01T00:00:00\x00Z",  # a NUL before the offset
    "20260101T000000Z",  # ISO 8601 basic format
    "2026-W01-1T00:00:00Z",  # an ISO week date: 2025-12-29
    "2026-01-01T00:00:00,5Z",  # a comma fraction, which was then dropped
    "2026-01-01T00:00Z", "2026-01-01T00:00:00+01", " 2026-01-01T00:00:00Z",
])
def test_search_times_that_are_not_rfc_3339_are_refused(secured: RunningServer,
                                                        since: str) -> None:
    admin = (_bearer("admin"),)
    for name, request in (("since", pb.SearchRequest(log=LOG, since=since)),
                          ("until", pb.SearchRequest(log=LOG, until=since))):
        code, details = _code(secured.stub().Search, request, metadata=admin, timeout=10)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (name, since)
        assert details.startswith(f"{name}: got ") and "want RFC 3339" in details
    stamp = "2026-01-01t00:00:00.123456789z"  # lower case and nine digits are RFC 3339
    assert secured.stub().Search(pb.SearchRequest(log=LOG, since=stamp), metadata=admin,
                                 timeout=10).tree_size == 0
