"""The client's status mapping (client/rpc.py) pinned against the server's (server/status.py):
every exception class the server maps to a code comes back on the client as the same class or a
documented parent, with fake failed calls and on a real server."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.client import rpc
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.proto.metadata import ERROR_CLASS
from auditlog_tlog.server.status import GRPC_STATUS, trailer_of
from auditlog_tlog.tree import errors
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.note import parse_note
from tests.servers import RunningServer, running, write_server_config

ORIGIN = "rpc.example/log"
WITNESS = CosignatureSigner.generate("rpc.example/witness")


class Failure(grpc.RpcError):  # type: ignore[misc]
    """A failed call as grpc raises it: code, details and trailing metadata."""

    def __init__(self, code: grpc.StatusCode, details: str,
                 trailer: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(details)
        self._code, self._details, self._trailer = code, details, trailer

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailer


def _raised(cls: type[errors.AuditLogError]) -> errors.AuditLogError:
    if cls is errors.InconsistencyError:
        return errors.InconsistencyError("two heads", kind=errors.Inconsistency.FORK)
    return cls("what went wrong")


SERVER_CLASSES: list[type[errors.AuditLogError]] = sorted(GRPC_STATUS, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", SERVER_CLASSES, ids=[c.__name__ for c in SERVER_CLASSES])
def test_each_server_class_comes_back_as_itself_or_a_documented_parent(
    cls: type[errors.AuditLogError],
) -> None:
    exc = _raised(cls)
    got = rpc.to_error(Failure(GRPC_STATUS[cls], str(exc), trailer_of(exc)), "test")
    assert str(got).endswith(str(exc))
    if cls is errors.AuditLogError:  # the base itself: RpcError stands for it, naming the code
        assert isinstance(got, rpc.RpcError) and got.code == GRPC_STATUS[cls].name
    elif type(got) is not cls:  # documented parents: the nearest base in NAMEABLE
        assert type(got) in rpc.NAMEABLE and issubclass(cls, type(got)), (cls, type(got))
        assert cls not in rpc.NAMEABLE
    if cls is errors.InconsistencyError:
        assert type(got) is errors.VerificationError


def test_every_code_alone_means_a_base_of_every_class_the_server_sends_with_it() -> None:
    for cls, code in GRPC_STATUS.items():
        got = rpc.to_error(Failure(code, "no trailer"), "test")  # an older or foreign server
        expected = rpc.FROM_STATUS.get(code)
        if expected is None:
            assert isinstance(got, rpc.RpcError) and got.code == code.name
        else:
            assert isinstance(got, expected) and issubclass(cls, expected), (cls, code)


def test_a_failed_verification_on_the_server_is_not_corruption() -> None:
    verification = errors.VerificationError("cosignature does not verify")
    corruption = errors.CorruptionError("log refuses writes")
    code = grpc.StatusCode.FAILED_PRECONDITION
    got = rpc.to_error(Failure(code, str(verification), trailer_of(verification)), "test")
    assert type(got) is errors.VerificationError
    got = rpc.to_error(Failure(code, str(corruption), trailer_of(corruption)), "test")
    assert type(got) is errors.CorruptionError


@pytest.mark.parametrize(("code", "name", "want"), [
    (grpc.StatusCode.NOT_FOUND, "CorruptionError", errors.NotFoundError),  # contradicts the code
    (grpc.StatusCode.INVALID_ARGUMENT, "NoSuchError", errors.MalformedError),  # unknown name
    (grpc.StatusCode.FAILED_PRECONDITION, "RpcError", rpc.RpcError),  # not nameable
    (grpc.StatusCode.FAILED_PRECONDITION, "", rpc.RpcError),
    (grpc.StatusCode.UNAVAILABLE, "StorageError", errors.StorageError),
    (grpc.StatusCode.DATA_LOSS, "CorruptionError", errors.CorruptionError),
    (grpc.StatusCode.DATA_LOSS, "", errors.CorruptionError),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "PushbackError", errors.PushbackError),
])
def test_what_a_named_class_may_change(code: grpc.StatusCode, name: str,
                                       want: type[errors.AuditLogError]) -> None:
    got = rpc.to_error(Failure(code, "retry after 20 ms", ((ERROR_CLASS, name),)), "test")
    assert type(got) is want
    if isinstance(got, errors.PushbackError):
        assert got.retry_after == pytest.approx(0.02)


def test_a_failure_without_metadata_is_mapped_by_its_code() -> None:
    class Bare(grpc.RpcError):  # type: ignore[misc]  # no trailing_metadata(), as test fakes
        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.OUT_OF_RANGE

        def details(self) -> str:
            return "index 9, size 3"

    assert type(rpc.to_error(Bare(), "test")) is errors.InvalidRangeError


def _aborts_without_trailer(source: str, name: str) -> list[str]:
    """``name:line`` of each ``<x>.abort(code, message)`` call that passes no trailing metadata."""
    return [
        f"{name}:{node.lineno}"
        for node in ast.walk(ast.parse(source, name))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == "abort" and len(node.args) < 3
        and not any(k.arg == "trailing_metadata" for k in node.keywords)
    ]


def test_every_abort_of_the_server_names_the_class() -> None:
    root = Path(__file__).resolve().parents[2] / "server"
    sources = {p.name: p.read_text(encoding="utf-8") for p in sorted(root.glob("*.py"))}
    assert "abort(" in sources["service.py"]
    missing = [site for name, text in sources.items() for site in _aborts_without_trailer(text, name)]
    assert missing == [], "pass trailer_of(exc) as the third argument of context.abort"
    assert _aborts_without_trailer("async def f(c, e):\n    await c.abort(1, 'm')\n", "x.py") == [
        "x.py:2"
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A log whose one witness pulls and hands its cosignatures in with AddCosignature."""
    config = write_server_config(
        tmp_path_factory.mktemp("server"), (ORIGIN,),
        extra_log=f'witness_quorum = 1\n[[log.witness]]\nvkey = "{WITNESS.vkey()}"',
    )
    yield from running(config)


def _call(server: RunningServer, method: str, request: object) -> object:
    return rpc.call(getattr(server.stub(), method), request, address=server.address, timeout=30,
                    policy=rpc.NO_RETRY, retry_unavailable=False)


def test_a_real_server_classes_its_failures(server: RunningServer) -> None:
    _call(server, "Append", pb.AppendRequest(log=ORIGIN, entry=b"one"))
    got = _call(server, "GetCheckpoint", pb.GetCheckpointRequest(log=ORIGIN))
    assert isinstance(got, pb.GetCheckpointResponse)
    text = parse_note(got.checkpoint).text
    bad = WITNESS.cosignature_line(text + "another\n", 1_700_000_000)  # signs another text
    with pytest.raises(errors.VerificationError, match="does not verify") as info:
        _call(server, "AddCosignature",
              pb.AddCosignatureRequest(log=ORIGIN, size=got.size, signatures=bad))
    assert type(info.value) is errors.VerificationError  # was CorruptionError before the trailer
    with pytest.raises(errors.NotFoundError):
        _call(server, "GetCheckpoint", pb.GetCheckpointRequest(log="no.such/log"))
    with pytest.raises(errors.InvalidRangeError):
        _call(server, "GetInclusionProof",
              pb.GetInclusionProofRequest(log=ORIGIN, index=5, tree_size=got.size))
