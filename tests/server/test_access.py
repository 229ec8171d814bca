"""Issue 11, access: ListLogs shows each caller only the logs it may read, and a status that
quotes client input (a 100,000-character log name) stays short enough to arrive."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.security import hash_token
from tests.server.conftest import ORIGIN
from tests.servers import RunningServer, running, write_server_config

PRIVATE_A, PRIVATE_B, PUBLIC = "a.example/private", "b.example/private", "c.example/public"
TOKENS = {"reader": "r-secret", "admin": "admin-secret"}
PRINCIPALS = f"""
[[principal]]
name = "reader"
token_sha256 = "{hash_token(TOKENS['reader'])}"
roles = {{ "{PRIVATE_A}" = ["read"] }}

[[principal]]
name = "admin"
token_sha256 = "{hash_token(TOKENS['admin'])}"
roles = {{ "*" = ["admin"] }}
"""
LONG_NAME = "a" * 100_000
SHORT = 300  # characters: a status message that quotes client input stays below this


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("access")
    config = write_server_config(directory, (PRIVATE_A, PRIVATE_B))
    with config.open("a") as f:
        f.write(f'\n[[log]]\norigin = "{PUBLIC}"\npublic_read = true\n' + PRINCIPALS)
    yield from running(config)


def _metadata(who: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {TOKENS[who]}"),) if who in TOKENS else ()


@pytest.mark.parametrize(("who", "listed"), [
    ("anonymous", [PUBLIC]),
    ("reader", [PRIVATE_A, PUBLIC]),
    ("admin", [PRIVATE_A, PRIVATE_B, PUBLIC]),
])
def test_list_logs_shows_only_what_the_caller_may_read(secured: RunningServer, who: str,
                                                       listed: list[str]) -> None:
    response = secured.stub().ListLogs(pb.ListLogsRequest(), metadata=_metadata(who), timeout=10)
    assert [info.origin for info in response.logs] == listed
    for origin in listed:  # and each listed log can indeed be read by that caller
        secured.stub().GetLogInfo(pb.GetLogInfoRequest(log=origin), metadata=_metadata(who),
                                  timeout=10)


def test_list_logs_with_an_unknown_token_is_unauthenticated(secured: RunningServer) -> None:
    with pytest.raises(grpc.RpcError) as info:
        secured.stub().ListLogs(pb.ListLogsRequest(), metadata=(("authorization", "Bearer x"),),
                                timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def _status(call: grpc.UnaryUnaryMultiCallable, request: object,
            who: str = "anonymous") -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(request, metadata=_metadata(who), timeout=10)
    return info.value.code(), info.value.details()


@pytest.mark.parametrize("length", [60_000, 100_000])
def test_a_huge_log_name_gets_a_precise_short_status(server: RunningServer, length: int) -> None:
    """60,000 characters fit a read request and are echoed cut short; 100,000 do not fit any
    read request, and the request is refused by its size before it is parsed."""
    name = "a" * length
    stub = server.stub()
    code, details = _status(stub.GetLogInfo, pb.GetLogInfoRequest(log=name))
    if length == 60_000:
        assert code == grpc.StatusCode.NOT_FOUND
        assert details == f"unknown log '{'a' * 64}…' (60000 characters); ListLogs names the " \
                          "logs you may read"
    else:
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        size = pb.GetLogInfoRequest(log=name).ByteSize()
        assert details == f"GetLogInfo request of {size} bytes, want at most 65536, the largest " \
                          "valid GetLogInfo request on this server"
    code, details = _status(stub.Append, pb.AppendRequest(log=name, entry=b"x"))
    if length == 60_000:
        assert code == grpc.StatusCode.NOT_FOUND and details.startswith("unknown log 'aaa")
    else:
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("Append request of")
    assert len(details) < SHORT
    assert stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN), timeout=10).origin == ORIGIN


@pytest.mark.parametrize(("who", "code"), [("anonymous", grpc.StatusCode.UNAUTHENTICATED),
                                           ("reader", grpc.StatusCode.PERMISSION_DENIED)])
def test_denials_quote_a_huge_log_name_cut_short(secured: RunningServer, who: str,
                                                 code: grpc.StatusCode) -> None:
    name = "b" * 60_000
    got, details = _status(secured.stub().GetCheckpoint, pb.GetCheckpointRequest(log=name), who)
    assert got == code
    assert f"'{'b' * 64}…' (60000 characters)" in details and len(details) < SHORT


def test_a_stream_naming_a_huge_second_log_gets_a_short_status(server: RunningServer) -> None:
    def messages() -> Iterator[pb.AppendStreamRequest]:
        yield pb.AppendStreamRequest(log=ORIGIN, entries=[b"first"], sequence=1)
        yield pb.AppendStreamRequest(log="c" * 60_000, entries=[b"second"], sequence=2)

    with pytest.raises(grpc.RpcError) as info:
        list(server.stub().AppendStream(messages(), timeout=10))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"'{'c' * 64}…' (60000 characters)" in info.value.details()
    assert len(info.value.details()) < SHORT
