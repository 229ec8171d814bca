"""End to end on loopback: a log server and two witnesses, all real processes.

* ``w1`` is a push witness (the log calls its tlog-witness API over HTTPS with mutual TLS: the
  log presents a client certificate) archiving to S3 Object Lock on a real S3 endpoint
  (SeaweedFS); ``w2`` is a pull witness (it polls the log's gRPC API and hands its
  cosignature back) archiving to a local write-once directory.
* Entries are appended, the latest checkpoint ends up cosigned by both, and a client holding
  only the log's and witnesses' keys verifies it with the ``tree`` verifiers under the log's
  2-of-2 policy, with an inclusion proof against it. Both archives hold the cosigned notes.
* A forked log (a second server, same key file, another tree) pushes to ``w1``: the witness
  refuses it, its state does not move, and the signed evidence lands in its S3 archive.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.proto import auditlog_pb2_grpc as pb_grpc
from auditlog_tlog.tree.checkpoint import open_checkpoint, parse_checkpoint
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.errors import VerificationError
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import open_note, parse_note
from auditlog_tlog.tree.verify import verify_consistency, verify_inclusion
from auditlog_tlog.tree.vkeys import parse_vkey
from auditlog_tlog.witness.core import origin_hash
from tests import seaweedfs
from tests.servers import AUDITLOG, RunningServer, running, write_server_config
from tests.witness import s3server
from tests.witness.helpers import Pki, write_pki

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ORIGIN = "e2e.example/log"
BUCKET = "witness-archive"
T = TypeVar("T")
_LISTEN = re.compile(r"serving tlog-witness on (https?://127\.0\.0\.1:\d+)")


@dataclass
class RunningWitness:
    process: subprocess.Popen[str]
    url: str
    output: list[str]
    pump: threading.Thread


def start_witness(config: Path, env: dict[str, str]) -> RunningWitness:
    process = subprocess.Popen(
        [*AUDITLOG, "witness", "--config", str(config)], cwd=config.parent, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    url = ""
    for line in process.stdout:
        output.append(line)
        if m := _LISTEN.search(line):
            url = m.group(1)
        if "auditlog witness: ready" in line:
            break
    if process.poll() is not None or not url:
        process.kill()
        process.wait(10)
        raise RuntimeError("witness did not start:\n" + "".join(output))

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return RunningWitness(process, url, output, thread)


@contextlib.contextmanager
def running_witness(config: Path, env: dict[str, str]) -> Iterator[RunningWitness]:
    """Start ``auditlog witness``; stop it with SIGTERM (SIGKILL if it will not stop)."""
    witness = start_witness(config, env)
    try:
        yield witness
    finally:
        os.kill(witness.process.pid, signal.SIGTERM)
        try:
            witness.process.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(witness.process.pid, signal.SIGKILL)
            witness.process.wait(10)
        witness.pump.join(10)
        if witness.process.stdout is not None:
            witness.process.stdout.close()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while (value := probe()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


@dataclass
class Deployment:
    dir: Path
    log: RunningServer
    w1: RunningWitness
    w2: RunningWitness
    log_key: Ed25519Signer
    w1_key: CosignatureSigner
    w2_key: CosignatureSigner
    s3: S3Client
    pki: Pki


def _write_key(path: Path, skey: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(skey + "\n")
    return path


def _log_config(directory: Path, key: Path, witnesses: str, quorum: int) -> Path:
    directory.mkdir()
    return write_server_config(
        directory, (ORIGIN,),
        extra_log=f'key_file = "{key}"\nwitness_quorum = {quorum}\n{witnesses}',
    )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, seaweed_url: str) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp("witnesses")
    log_key = Ed25519Signer.generate(ORIGIN)
    w1_key = CosignatureSigner.generate("w1.example/witness")
    w2_key = CosignatureSigner.generate("w2.example/witness")
    key = _write_key(base / "log.key", log_key.skey())
    for name, signer in (("w1", w1_key), ("w2", w2_key)):
        (base / name).mkdir()
        _write_key(base / name / "witness.key", signer.skey())
    (base / "pki").mkdir()
    pki = write_pki(base / "pki")
    env = {**os.environ, **seaweedfs.CREDENTIALS}
    with contextlib.ExitStack() as stack:
        s3 = seaweedfs.client(seaweed_url)
        stack.callback(s3.close)
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        (base / "w1" / "witness.toml").write_text(
            f'[witness]\nname = "{w1_key.name}"\nlisten = "127.0.0.1:0"\n'
            f'[witness.tls]\ncert_file = "{pki.server_cert}"\nkey_file = "{pki.server_key}"\n'
            f'client_ca_file = "{pki.ca}"\n'
            f'[archive]\ntype = "s3"\nbucket = "{BUCKET}"\nendpoint_url = "{seaweed_url}"\n'
            f'region = "us-east-1"\nretention_days = 1\n'
            f'[[log]]\norigin = "{ORIGIN}"\nvkey = "{log_key.vkey()}"\n'
        )
        w1 = stack.enter_context(running_witness(base / "w1" / "witness.toml", env))
        assert w1.url.startswith("https://")
        config = _log_config(base / "log", key, (
            _w1_table(w1_key, w1.url, pki) + 'timeout_s = 5\n'
            f'[[log.witness]]\nvkey = "{w2_key.vkey()}"\n'
        ), quorum=2)
        log = stack.enter_context(contextlib.contextmanager(running)(config))
        (base / "w2" / "witness.toml").write_text(
            f'[witness]\nname = "{w2_key.name}"\nlisten = "127.0.0.1:0"\n'
            f'[[log]]\norigin = "{ORIGIN}"\nvkey = "{log_key.vkey()}"\n'
            f'grpc = "{log.address}"\npoll_interval_s = 0.2\n'
        )
        w2 = stack.enter_context(running_witness(base / "w2" / "witness.toml", env))
        yield Deployment(base, log, w1, w2, log_key, w1_key, w2_key, s3, pki)


def _w1_table(key: CosignatureSigner, url: str, pki: Pki) -> str:
    return (f'[[log.witness]]\nvkey = "{key.vkey()}"\nurl = "{url}"\nca_file = "{pki.ca}"\n'
            f'client_cert_file = "{pki.client_cert}"\nclient_key_file = "{pki.client_key}"\n')


def _cosigned_by_both(stub: pb_grpc.LogStub, size: int) -> pb.GetCheckpointResponse | None:
    got: pb.GetCheckpointResponse = stub.GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN))
    return got if got.size >= size and len(got.witnesses) == 2 else None


def test_a_checkpoint_cosigned_by_both_witnesses_verifies_under_2_of_2(d: Deployment) -> None:
    with grpc.insecure_channel(d.log.address) as channel:
        stub = pb_grpc.LogStub(channel)
        entries = [f"event {i}".encode() for i in range(10)]
        results = stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=entries)).results
        got = wait_for("both cosignatures", lambda: _cosigned_by_both(stub, 10))
        info = stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN))
        # An auditor's check, with only the keys the log publishes and the tree verifiers.
        assert list(info.witness_keys) == [d.w1_key.vkey(), d.w2_key.vkey()]
        assert info.witness_quorum == 2
        checkpoint, _ = open_checkpoint(got.checkpoint, [parse_vkey(info.verifier_key)],
                                        origin=ORIGIN)
        opened = open_note(got.checkpoint, [parse_vkey(k) for k in info.witness_keys])
        assert len(opened.verified) >= info.witness_quorum
        assert sorted(v.name for v in opened.verified) == sorted(got.witnesses)
        proof = stub.GetInclusionProof(pb.GetInclusionProofRequest(
            log=ORIGIN, index=results[3].index, tree_size=checkpoint.size))
        verify_inclusion(SHA256, results[3].index, checkpoint.size, results[3].leaf_hash,
                         proof.proof, checkpoint.root)

    # Each witness archived the cosigned notes: w1 in S3 under COMPLIANCE lock, w2 on disk.
    text = parse_note(got.checkpoint).text
    w1_objects = [k for k in s3server.all_keys(d.s3, BUCKET) if k.startswith("cosigned/")]
    w1_texts = set()
    for key in w1_objects:
        assert key.startswith(f"cosigned/{origin_hash(ORIGIN)}/")
        head = d.s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        body = d.s3.get_object(Bucket=BUCKET, Key=key)["Body"]
        with body:
            w1_texts.add(parse_note(body.read()).text)
    assert text in w1_texts
    w2_files = [p for p in (d.dir / "w2" / "archive" / "cosigned").rglob("*") if p.is_file()]
    assert text in {parse_note(p.read_bytes()).text for p in w2_files}
    assert all(p.stat().st_mode & 0o777 == 0o444 for p in w2_files)


def test_a_forked_log_is_refused_and_the_evidence_is_archived(d: Deployment) -> None:
    with grpc.insecure_channel(d.log.address) as channel:
        stub = pb_grpc.LogStub(channel)
        entries = [f"honest {i}".encode() for i in range(3)]
        last = stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=entries)).results[-1]
        got = wait_for("both cosignatures", lambda: _cosigned_by_both(stub, last.index + 1))
    honest = parse_checkpoint(parse_note(got.checkpoint).text)
    # Same key, another tree, larger than the one w1 cosigned: it pushes to w1 like the real log.
    config = _log_config(d.dir / "fork", d.dir / "log.key", _w1_table(d.w1_key, d.w1.url, d.pki),
                         quorum=1)
    for fork in running(config):
        with grpc.insecure_channel(fork.address) as channel:
            fork_stub = pb_grpc.LogStub(channel)
            entries = [f"rewritten {i}".encode() for i in range(honest.size + 5)]
            fork_stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=entries))
            evidence = wait_for("evidence in w1's archive", lambda: [
                k for k in s3server.all_keys(d.s3, BUCKET) if k.startswith("evidence/")] or None)
            forked = fork_stub.GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN))
            assert list(forked.witnesses) == []  # w1 never cosigned the fork
            fork_proof = fork_stub.GetConsistencyProof(pb.GetConsistencyProofRequest(
                log=ORIGIN, size1=honest.size, size2=forked.size)).proof
    # A failed proof is no proof of a fork by itself (anyone may send one): logged as refused,
    # the pair archived for the auditor, whose audit holds it to the entries.
    assert any("refused against the one cosigned" in line for line in d.w1.output)
    body = d.s3.get_object(Bucket=BUCKET, Key=evidence[0])["Body"]
    with body:
        doc = json.loads(body.read())
    # Both notes of the evidence are signed by the log's key, and they cannot both be true.
    log_verifier = d.log_key.verifier()
    witnessed, _ = open_checkpoint(doc["witnessed"].encode(), [log_verifier], origin=ORIGIN)
    presented, _ = open_checkpoint(doc["presented"].encode(), [log_verifier], origin=ORIGIN)
    assert (witnessed.size, witnessed.root) == (honest.size, honest.root)
    assert presented.size == parse_checkpoint(parse_note(forked.checkpoint).text).size
    with pytest.raises(VerificationError):
        verify_consistency(SHA256, witnessed.size, presented.size, fork_proof,
                           witnessed.root, presented.root)
    head = d.s3.head_object(Bucket=BUCKET, Key=evidence[0])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert doc["reason"].startswith("consistency proof failed")
    # The witness did not move: its monitoring endpoint still serves the honest checkpoint.
    with urllib.request.urlopen(f"{d.w1.url}/{origin_hash(ORIGIN)}/checkpoint", timeout=10,
                                context=d.pki.client_context()) as r:
        latest = parse_checkpoint(parse_note(r.read()).text)
    assert latest.root != presented.root and latest.size >= honest.size


@pytest.fixture
def d(deployment: Deployment) -> Deployment:
    return deployment
