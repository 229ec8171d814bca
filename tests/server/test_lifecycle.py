"""Sequencer behaviour over real gRPC: pushback, graceful drain, restarts (the checkpoint interval
is tested in process with a fake clock, tests/server/test_sequencer.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from tests.servers import start_server, write_server_config

ORIGIN = "life.example/log"


def test_full_queue_pushes_back_with_resource_exhausted(tmp_path: Path) -> None:
    config = write_server_config(
        tmp_path, (ORIGIN,), extra_log="max_pending_entries = 50\nbatch_delay_ms = 200"
    )
    server = start_server(config)
    try:
        stub = server.stub()
        futures = [stub.AppendBatch.future(pb.AppendBatchRequest(
            log=ORIGIN, entries=[b"%d-%d" % (i, j) for j in range(20)])) for i in range(10)]
        codes = []
        for f in futures:
            try:
                f.result(timeout=10)
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as exc:
                codes.append(exc.code())
                assert "limit 50" in exc.details() and "retry" in exc.details()
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes and grpc.StatusCode.OK in codes
        assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
        # The queue drains: the log takes appends again.
        assert stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"after")).result.leaf_hash
        # A batch larger than the whole queue would be refused for ever: not a retry, an error.
        with pytest.raises(grpc.RpcError) as refused:
            stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=[b"big-%d" % j
                                                                         for j in range(51)]))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "a batch of 51 entries, want at most 50" in (refused.value.details() or "")
    finally:
        server.stop()


def test_sigterm_drains_queued_appends_and_restart_keeps_them(tmp_path: Path) -> None:
    config = write_server_config(tmp_path, (ORIGIN,), extra_log="batch_delay_ms = 300")
    server = start_server(config)
    stub = server.stub()
    outcomes: list[object] = []

    def append(i: int) -> None:
        try:
            outcomes.append(stub.Append(pb.AppendRequest(log=ORIGIN, entry=b"drain-%d" % i),
                                        timeout=10).result.index)
        except grpc.RpcError as exc:
            outcomes.append(exc.code())

    threads = [threading.Thread(target=append, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    time.sleep(0.1)  # the appends wait in the queue (batch_delay_ms) when SIGTERM comes
    assert server.stop() == 0
    for t in threads:
        t.join(10)
    acked = [o for o in outcomes if isinstance(o, int)]
    assert len(acked) == 20, outcomes  # every queued append was written and answered
    assert any("draining appends" in line for line in server.output)

    server = start_server(config)
    try:
        assert server.stub().GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN)).size == 20
    finally:
        server.stop()


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    config = write_server_config(tmp_path, (ORIGIN,))
    server = start_server(config)
    server.stop()
    key = next((tmp_path / "keys").iterdir())
    key.chmod(mode)
    import subprocess

    from tests.servers import AUDITLOG

    result = subprocess.run([*AUDITLOG, "serve", "--config", str(config)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode != 0
    assert f"mode {mode:04o}" in result.stderr and "chmod 600" in result.stderr


def test_stream_hitting_pushback_ends_promptly_with_resource_exhausted(tmp_path: Path) -> None:
    config = write_server_config(
        tmp_path, (ORIGIN,), extra_log="max_pending_entries = 50\nbatch_delay_ms = 200"
    )
    server = start_server(config)
    try:
        requests = (pb.AppendStreamRequest(log=ORIGIN, entries=[b"%d-%d" % (i, j) for j in range(20)],
                                           sequence=i) for i in range(60))
        acked = []
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            for response in server.stub().AppendStream(requests, timeout=20):
                acked.append(response.sequence)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert time.monotonic() - started < 10
        assert acked == list(range(len(acked)))  # acknowledgements stay in order
    finally:
        server.stop()
