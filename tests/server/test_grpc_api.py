"""Every RPC of auditlog.v1.Log over real gRPC on loopback, good input and bad."""

from __future__ import annotations

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.hashing import BLAKE3, SHA256
from auditlog_tlog.tree.note import open_note
from auditlog_tlog.tree.tlogproof import parse_tlog_proof
from auditlog_tlog.tree.verify import verify_consistency, verify_inclusion
from auditlog_tlog.tree.vkeys import parse_vkey
from tests.server.conftest import BLAKE_ORIGIN, ORIGIN
from tests.servers import RunningServer


def _code(call: object, request: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        result = call(request)  # type: ignore[operator]
        if not isinstance(result, pb.AppendResponse | pb.AppendBatchResponse | pb.LogInfo):
            list(result)  # drain server streams
    return info.value.code(), info.value.details()


def _checkpoint(server: RunningServer, origin: str = ORIGIN) -> tuple[int, bytes]:
    stub = server.stub()
    info = stub.GetLogInfo(pb.GetLogInfoRequest(log=origin))
    note = stub.GetCheckpoint(pb.GetCheckpointRequest(log=origin)).checkpoint
    opened = open_note(note, [parse_vkey(info.verifier_key)])
    cp = parse_checkpoint(opened.note.text)
    assert cp.origin == origin
    return cp.size, cp.root


def test_append_returns_a_receipt_that_verifies_offline(server: RunningServer) -> None:
    stub = server.stub()
    result = stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"receipt me", want_receipt=True)).result
    assert result.leaf_hash == SHA256.hash_leaf(b"receipt me") and not result.duplicate
    receipt = parse_tlog_proof(result.receipt)
    info = stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN))
    cp = parse_checkpoint(open_note(receipt.checkpoint, [parse_vkey(info.verifier_key)]).note.text)
    assert receipt.index == result.index
    verify_inclusion(SHA256, receipt.index, cp.size, result.leaf_hash, receipt.proof, cp.root)


def test_dedup_returns_the_first_index(server: RunningServer) -> None:
    stub = server.stub()
    first = stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"once")).result
    batch = stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=[b"x1", b"once", b"x1"]))
    assert [(r.index, r.duplicate) for r in batch.results] == [
        (first.index + 1, False), (first.index, True), (first.index + 1, True)
    ]


def test_blake3_log_without_dedup_appends_duplicates(server: RunningServer) -> None:
    stub = server.stub()
    r = stub.AppendBatch(pb.AppendBatchRequest(log=BLAKE_ORIGIN, entries=[b"d", b"d"])).results
    assert r[1].index == r[0].index + 1 and not r[1].duplicate
    assert r[0].leaf_hash == BLAKE3.hash_leaf(b"d")
    size, root = _checkpoint(server, BLAKE_ORIGIN)
    proof = stub.GetInclusionProof(pb.GetInclusionProofRequest(log=BLAKE_ORIGIN, index=r[1].index))
    verify_inclusion(BLAKE3, r[1].index, size, r[1].leaf_hash, proof.proof, root)


def test_stream_acknowledges_in_order(server: RunningServer) -> None:
    stub = server.stub()
    requests = [
        pb.AppendStreamRequest(log=ORIGIN if i == 0 else "", entries=[b"s%d-%d" % (i, j) for j in range(5)],
                               sequence=100 + i)
        for i in range(40)
    ]
    responses = list(stub.AppendStream(iter(requests)))
    assert [r.sequence for r in responses] == [100 + i for i in range(40)]
    indexes = [res.index for r in responses for res in r.results]
    assert indexes == list(range(indexes[0], indexes[0] + 200))


def test_stream_that_switches_log_is_refused(server: RunningServer) -> None:
    stub = server.stub()
    requests = [pb.AppendStreamRequest(log=ORIGIN, entries=[b"a"]),
                pb.AppendStreamRequest(log=BLAKE_ORIGIN, entries=[b"b"])]
    code, details = _code(lambda r: stub.AppendStream(iter(r)), requests)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "want" in details


def test_proofs_by_index_and_hash_at_past_sizes(server: RunningServer) -> None:
    stub = server.stub()
    entries = [b"proof-%d" % i for i in range(30)]
    results = stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=entries)).results
    old_size, old_root = _checkpoint(server)
    stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=[b"later-%d" % i for i in range(9)]))
    size, root = _checkpoint(server)
    assert size == old_size + 9
    r = results[3]
    by_index = stub.GetInclusionProof(
        pb.GetInclusionProofRequest(log=ORIGIN, index=r.index, tree_size=old_size))
    verify_inclusion(SHA256, r.index, old_size, r.leaf_hash, by_index.proof, old_root)
    assert by_index.checkpoint  # the log signed a checkpoint at exactly that size
    by_hash = stub.GetInclusionProof(pb.GetInclusionProofRequest(log=ORIGIN, leaf_hash=r.leaf_hash))
    assert (by_hash.index, by_hash.tree_size) == (r.index, size)
    verify_inclusion(SHA256, r.index, size, r.leaf_hash, by_hash.proof, root)
    cons = stub.GetConsistencyProof(pb.GetConsistencyProofRequest(log=ORIGIN, size1=old_size))
    assert cons.size2 == size
    verify_consistency(SHA256, old_size, size, cons.proof, old_root, root)


def test_entries_come_in_bounded_pages(server: RunningServer) -> None:
    stub = server.stub()
    base = stub.AppendBatch(pb.AppendBatchRequest(
        log=ORIGIN, entries=[b"page-%d" % i for i in range(20)])).results[0].index
    pages = list(stub.GetEntries(pb.GetEntriesRequest(log=ORIGIN, begin=base, end=base + 20)))
    assert [len(p.entries) for p in pages] == [7, 7, 6]  # max_entries_page = 7
    assert [p.begin for p in pages] == [base, base + 7, base + 14]
    assert [e for p in pages for e in p.entries] == [b"page-%d" % i for i in range(20)]
    assert list(stub.GetEntries(pb.GetEntriesRequest(log=ORIGIN, begin=base, end=base))) == []


def test_log_info_and_list(server: RunningServer) -> None:
    stub = server.stub()
    logs = stub.ListLogs(pb.ListLogsRequest()).logs
    assert [i.origin for i in logs] == sorted([ORIGIN, BLAKE_ORIGIN])
    info = stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN))
    assert info.hash == "sha256" and info.dedup and info.limits.max_entry_bytes == 1024
    assert parse_vkey(info.verifier_key).name == ORIGIN


@pytest.mark.parametrize(
    ("method", "request_", "code", "says"),
    [
        ("Append", pb.AppendRequest(log="nope", entry=b"x"), "NOT_FOUND", "unknown log"),
        ("Append", pb.AppendRequest(log=ORIGIN), "INVALID_ARGUMENT", "0 bytes, want 1 to 1024"),
        ("Append", pb.AppendRequest(log=ORIGIN, entry=b"x" * 1025), "INVALID_ARGUMENT", "1025 bytes"),
        ("AppendBatch", pb.AppendBatchRequest(log=ORIGIN), "INVALID_ARGUMENT", "want at least 1"),
        ("AppendBatch", pb.AppendBatchRequest(log=ORIGIN, entries=[b"e"] * 101), "INVALID_ARGUMENT",
         "want at most 100"),
        ("GetInclusionProof", pb.GetInclusionProofRequest(log=ORIGIN), "INVALID_ARGUMENT",
         "neither"),
        ("GetInclusionProof", pb.GetInclusionProofRequest(log=ORIGIN, index=2**63), "OUT_OF_RANGE",
         "not in a tree"),
        ("GetInclusionProof", pb.GetInclusionProofRequest(log=ORIGIN, index=0, tree_size=2**64 - 1),
         "OUT_OF_RANGE", "beyond the log's size"),
        ("GetInclusionProof", pb.GetInclusionProofRequest(log=ORIGIN, leaf_hash=b"short"),
         "INVALID_ARGUMENT", "want 32"),
        ("GetInclusionProof", pb.GetInclusionProofRequest(log=ORIGIN, leaf_hash=bytes(32)),
         "NOT_FOUND", "no entry"),
        ("GetConsistencyProof", pb.GetConsistencyProofRequest(log=ORIGIN, size1=5, size2=4),
         "OUT_OF_RANGE", "larger than size2"),
        ("GetConsistencyProof", pb.GetConsistencyProofRequest(log=ORIGIN, size1=0, size2=2**64 - 1),
         "OUT_OF_RANGE", "beyond"),
        ("GetEntries", pb.GetEntriesRequest(log=ORIGIN, begin=5, end=2), "OUT_OF_RANGE", "range"),
        ("GetEntries", pb.GetEntriesRequest(log=ORIGIN, begin=0, end=2**64 - 1), "OUT_OF_RANGE",
         "not within"),
        ("GetLogInfo", pb.GetLogInfoRequest(log=""), "NOT_FOUND", "unknown log"),
        ("GetCheckpoint", pb.GetCheckpointRequest(log="x"), "NOT_FOUND", "unknown log"),
    ],
)
def test_bad_requests_get_precise_errors(
    server: RunningServer, method: str, request_: object, code: str, says: str
) -> None:
    got, details = _code(getattr(server.stub(), method), request_)
    assert got.name == code and says in details, (got, details)


def test_request_over_the_size_limit_is_resource_exhausted(server: RunningServer) -> None:
    got, details = _code(server.stub().AppendBatch,
                         pb.AppendBatchRequest(log=ORIGIN, entries=[b"x" * 1000] * 17000))
    assert got == grpc.StatusCode.RESOURCE_EXHAUSTED, details


def test_health_and_reflection_are_served(server: RunningServer) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    channel = grpc.insecure_channel(server.address)
    health = health_pb2_grpc.HealthStub(channel)
    status = health.Check(health_pb2.HealthCheckRequest(service="auditlog.v1.Log")).status
    assert status == health_pb2.HealthCheckResponse.SERVING
    reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
    answer = next(iter(reflect.ServerReflectionInfo(iter([
        reflection_pb2.ServerReflectionRequest(list_services="")]))))
    names = {s.name for s in answer.list_services_response.service}
    assert "auditlog.v1.Log" in names
    channel.close()


def test_metrics_count_appends_and_requests(server: RunningServer) -> None:
    import urllib.request

    stub = server.stub()
    stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"metric me"))
    stub.GetConsistencyProof(pb.GetConsistencyProofRequest(log=ORIGIN, size1=1))
    with pytest.raises(grpc.RpcError) as refused:  # counted by server/handlers.py
        stub.GetConsistencyProof(pb.GetConsistencyProofRequest(log=ORIGIN, size1=2**62))
    assert refused.value.code() == grpc.StatusCode.OUT_OF_RANGE
    with urllib.request.urlopen(server.metrics_url, timeout=5) as response:
        text = response.read().decode()
    assert f'auditlog_tree_size{{log="{ORIGIN}"}}' in text
    assert 'auditlog_requests_total{code="OK",method="Append"}' in text
    assert 'auditlog_requests_total{code="NOT_FOUND",method="Append"}' in text
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if not line.startswith("#")}
    ok = values['auditlog_requests_total{code="OK",method="GetConsistencyProof"}']
    out_of_range = values['auditlog_requests_total{code="OUT_OF_RANGE",method="GetConsistencyProof"}']
    assert ok >= 1 and out_of_range >= 1
    calls = values['auditlog_request_seconds_count{method="GetConsistencyProof"}']
    assert calls == values['auditlog_request_seconds_bucket{le="+Inf",method="GetConsistencyProof"}']
    assert calls == sum(v for k, v in values.items()
                        if k.startswith("auditlog_requests_total{") and "GetConsistencyProof" in k)


def test_checkpoints_by_size_and_listed_in_pages(server: RunningServer) -> None:
    stub = server.stub()
    for i in range(3):
        stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"listed-%d" % i))
    first = stub.ListCheckpoints(pb.ListCheckpointsRequest(log=ORIGIN, limit=2))
    assert first.sizes[0] == 0 and len(first.sizes) == 2 and first.more
    sizes: list[int] = []
    begin = 0
    while True:
        page = stub.ListCheckpoints(pb.ListCheckpointsRequest(log=ORIGIN, begin_size=begin, limit=3))
        sizes += page.sizes
        if not page.more:
            break
        begin = page.sizes[-1] + 1
    latest = stub.GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN))
    assert sizes == sorted(set(sizes)) and sizes[-1] == latest.size
    middle = sizes[len(sizes) // 2]
    at = stub.GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN, size=middle))
    assert at.size == middle and f"\n{middle}\n".encode() in at.checkpoint
    missing = _code(stub.GetCheckpoint, pb.GetCheckpointRequest(log=ORIGIN, size=latest.size + 5))
    assert missing[0] == grpc.StatusCode.NOT_FOUND and "signed no checkpoint" in missing[1]


def test_port_in_use_is_a_clean_error(server: RunningServer, tmp_path: object) -> None:
    import pathlib
    import subprocess

    from tests.servers import AUDITLOG, write_server_config

    assert isinstance(tmp_path, pathlib.Path)
    config = write_server_config(tmp_path, ("other.example/log",))
    config.write_text(config.read_text().replace('\nlisten = "127.0.0.1:0"',
                                                 f'\nlisten = "{server.address}"'))
    result = subprocess.run([*AUDITLOG, "serve", "--config", str(config)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"cannot listen on {server.address}: the port is in use" in result.stderr
