"""Throw malformed and random messages at every RPC: never INTERNAL or UNKNOWN, never a crash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditlog_tlog.proto import auditlog_pb2 as pb
from tests.server.conftest import ORIGIN
from tests.servers import RunningServer

SERVICE = "/auditlog.v1.Log/"
UNARY = ["Append", "AppendBatch", "GetCheckpoint", "GetInclusionProof", "GetConsistencyProof",
         "GetLogInfo", "ListLogs", "AddCosignature", "LegalHold"]
SERVER_STREAM = ["GetEntries"]
BIDI = ["AppendStream"]
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

u64 = st.one_of(st.integers(0, 40), st.integers(0, 2**64 - 1))
logs = st.sampled_from([ORIGIN, "", "nope", "test.example/log\x00", "é" * 50])
blobs = st.binary(max_size=80)


def _call(channel: grpc.Channel, method: str, payload: bytes) -> grpc.StatusCode:
    """Send raw bytes as the request and return the status code."""
    identity: Callable[[bytes], bytes] = lambda b: b  # noqa: E731
    try:
        if method in UNARY:
            channel.unary_unary(SERVICE + method, identity, identity)(payload, timeout=10)
        elif method in SERVER_STREAM:
            list(channel.unary_stream(SERVICE + method, identity, identity)(payload, timeout=10))
        else:
            list(channel.stream_stream(SERVICE + method, identity, identity)(
                iter([payload, payload]), timeout=10))
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK


@SETTINGS
@given(method=st.sampled_from(UNARY + SERVER_STREAM + BIDI), payload=st.binary(max_size=300))
def test_random_bytes_never_give_internal(server: RunningServer, method: str, payload: bytes) -> None:
    with grpc.insecure_channel(server.address) as channel:
        assert _call(channel, method, payload) not in FORBIDDEN


def _messages() -> st.SearchStrategy[tuple[str, Any]]:
    return st.one_of(
        st.builds(lambda log, e, w: ("Append", pb.AppendRequest(log=log, entry=e, want_receipt=w)),
                  logs, blobs, st.booleans()),
        st.builds(lambda log, es: ("AppendBatch", pb.AppendBatchRequest(log=log, entries=es)),
                  logs, st.lists(blobs, max_size=5)),
        st.builds(lambda log, i, s: ("GetInclusionProof",
                                     pb.GetInclusionProofRequest(log=log, index=i, tree_size=s)),
                  logs, u64, u64),
        st.builds(lambda log, h: ("GetInclusionProof",
                                  pb.GetInclusionProofRequest(log=log, leaf_hash=h)), logs, blobs),
        st.builds(lambda log, a, b: ("GetConsistencyProof",
                                     pb.GetConsistencyProofRequest(log=log, size1=a, size2=b)),
                  logs, u64, u64),
        st.builds(lambda log, a, b: ("GetEntries", pb.GetEntriesRequest(log=log, begin=a, end=b)),
                  logs, u64, u64),
        st.builds(lambda log, s, sig: ("AddCosignature",
                                       pb.AddCosignatureRequest(log=log, size=s, signatures=sig)),
                  logs, u64, blobs),
        st.builds(lambda log, a, b, r, s: ("LegalHold", pb.LegalHoldRequest(
            log=log, begin=a, end=b, release=r, size=s)), logs, u64, u64, st.booleans(), u64),
        st.builds(lambda log: ("GetCheckpoint", pb.GetCheckpointRequest(log=log)), logs),
        st.builds(lambda log: ("GetLogInfo", pb.GetLogInfoRequest(log=log)), logs),
    )


@SETTINGS
@given(message=_messages())
def test_random_fields_never_give_internal(server: RunningServer, message: tuple[str, Any]) -> None:
    method, request = message
    with grpc.insecure_channel(server.address) as channel:
        code = _call(channel, method, request.SerializeToString())
        assert code not in FORBIDDEN, (method, request, code)


def test_server_is_still_serving_after_the_fuzzing(server: RunningServer) -> None:
    assert server.process.poll() is None
    reply = server.stub().Append(pb.AppendRequest(log=ORIGIN, entry=b"still here"))
    assert reply.result.leaf_hash
