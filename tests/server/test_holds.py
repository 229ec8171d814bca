"""Issue 17, legal hold: ``LegalHold`` (admin role) sets S3 legal holds on the published objects
of a range, enough to prove every entry of it, and records the hold as an entry of the log;
release sets them OFF. Against a real log server publishing to SeaweedFS, and the bucket calls
against moto_server. Also: a bucket whose default retention is shorter than the log's is
refused at start, naming both."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import grpc
import pytest

from auditlog_tlog.client.cli import main
from auditlog_tlog.client.event import parse_event
from auditlog_tlog.client.tiles_source import FileFetcher, TileSource
from auditlog_tlog.common.s3 import Failure, Guarantee, LockedBucket, S3Error
from auditlog_tlog.common.s3holds import legal_hold, set_legal_hold
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.holds import PLACE, RELEASE, held_objects
from auditlog_tlog.server.publisher import changed_objects, history_name
from auditlog_tlog.server.security import hash_token
from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import parse_note
from auditlog_tlog.tree.verify import verify_inclusion
from tests import seaweedfs
from tests.server.test_publisher import ORIGIN as PUBLISHED
from tests.server.test_publisher import _log
from tests.servers import running, start_server, write_server_config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ORIGIN = "holds.example/log"
PREFIX = ORIGIN + "/"
TOKENS = {"admin": "admin-secret", "writer": "writer-secret"}
PRINCIPALS = f"""
[[principal]]
name = "legal-team"
token_sha256 = "{hash_token(TOKENS['admin'])}"
roles = {{ "{ORIGIN}" = ["admin"] }}

[[principal]]
name = "writer"
token_sha256 = "{hash_token(TOKENS['writer'])}"
roles = {{ "{ORIGIN}" = ["append", "read"] }}
"""


def _as(who: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {TOKENS[who]}"),)


@pytest.fixture
def s3(seaweed_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Client]:
    for name, value in seaweedfs.CREDENTIALS.items():
        monkeypatch.setenv(name, value)  # the server processes inherit them
    client = seaweedfs.client(seaweed_url)
    yield client
    client.close()


def _config(directory: Path, url: str, bucket: str, retention_days: int = 1) -> Path:
    directory.mkdir(exist_ok=True)
    return write_server_config(directory, (ORIGIN,), extra_log=(
        f'[log.publish]\nbucket = "{bucket}"\nendpoint_url = "{url}"\nregion = "us-east-1"\n'
        f'retention_days = {retention_days}\ninterval_s = 0.05\n'), extra_server=PRINCIPALS)


def _hold_status(s3: S3Client, bucket: str, name: str) -> str:
    return "ON" if legal_hold(LockedBucket(s3, bucket, 1, PREFIX), name) else "OFF"


@pytest.mark.parametrize(("size", "begin", "end", "want"), [
    (1, 0, 1, ["tile/0/000.p/1", "tile/entries/000.p/1", "checkpoints/00000000000000000001"]),
    (600, 300, 301, ["tile/0/001", "tile/entries/001", "tile/0/002.p/88", "tile/1/000.p/2",
                     "checkpoints/00000000000000000600"]),
    (70_000, 0, 10, ["tile/0/000", "tile/entries/000", "tile/0/273.p/112", "tile/1/000",
                     "tile/1/001.p/17", "tile/2/000.p/1", "checkpoints/00000000000000070000"]),
])
def test_held_objects(size: int, begin: int, end: int, want: list[str]) -> None:
    assert held_objects(size, begin, end) == want


def test_a_hold_covers_what_proves_the_range_and_is_logged(
    s3: S3Client, seaweed_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUDITLOG_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    bucket = seaweedfs.make_bucket(s3, "holds")
    for server in running(_config(tmp_path / "server", seaweed_url, bucket)):
        stub = server.stub()
        entries = [b"entry %d" % i for i in range(600)]
        before = datetime.now(UTC)
        stub.AppendBatch(pb.AppendBatchRequest(log=ORIGIN, entries=entries), metadata=_as("writer"))
        after = datetime.now(UTC)
        request = pb.LegalHoldRequest(log=ORIGIN, begin=100, end=300, reason="case 17")
        with pytest.raises(grpc.RpcError) as denied:
            stub.LegalHold(request, metadata=_as("writer"), timeout=10)
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "lacks the 'admin' role" in (denied.value.details() or "")
        published = 0
        for _ in range(400):  # wait for the 600 entries to be in the bucket
            info = stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN), metadata=_as("writer"))
            published = info.publication.published_size
            if published >= 600:
                break
            time.sleep(0.05)
        assert published >= 600
        for bad, code, said in [
            (pb.LegalHoldRequest(begin=0, end=published + 5), grpc.StatusCode.OUT_OF_RANGE,
             "wait for publication"),
            (pb.LegalHoldRequest(begin=5, end=5), grpc.StatusCode.OUT_OF_RANGE, "want begin < end"),
            (pb.LegalHoldRequest(begin=0, end=1, size=2**64 - 1), grpc.StatusCode.OUT_OF_RANGE,
             f"want at most {published}"),
            (pb.LegalHoldRequest(begin=0, end=1, size=published - 1),
             grpc.StatusCode.OUT_OF_RANGE, "holds no checkpoint of that size"),
            (pb.LegalHoldRequest(begin=0, end=1, reason="x" * 1025),
             grpc.StatusCode.INVALID_ARGUMENT, "want at most 1024"),
        ]:
            bad.log = ORIGIN
            with pytest.raises(grpc.RpcError) as refused:
                stub.LegalHold(bad, metadata=_as("admin"), timeout=10)
            assert refused.value.code() is code and said in (refused.value.details() or "")
        assert stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN), metadata=_as("admin")).size \
            == 600  # nothing recorded for a refused request

        placed = stub.LegalHold(request, metadata=_as("admin"), timeout=30)
        names = held_objects(placed.size, 100, 300)
        assert placed.objects == len(names) and placed.size == published
        assert all(_hold_status(s3, bucket, name) == "ON" for name in names)
        assert _hold_status(s3, bucket, "tile/entries/002.p/88") == "OFF"  # outside the range

        # The held objects alone prove every entry of the range at the held size.
        mirror = tmp_path / "mirror"
        for name in names:
            path = mirror / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=bucket, Key=PREFIX + name)["Body"].read())
        note = (mirror / f"checkpoints/{placed.size:020d}").read_bytes()
        (mirror / "checkpoint").write_bytes(note)
        root = parse_checkpoint(parse_note(note).text).root
        source = TileSource(FileFetcher(mirror), ORIGIN, SHA256)
        try:
            for index, entry in source.entries(100, 300):
                assert entry == entries[index]
                proof = source.inclusion_proof(index=index, size=placed.size)
                verify_inclusion(SHA256, index, placed.size, SHA256.hash_leaf(entry), proof.proof,
                                 root)
        finally:
            source.close()

        # The hold is an entry of the log: who, what, which range, how many objects, why.
        (page,) = stub.GetEntries(pb.GetEntriesRequest(log=ORIGIN, begin=placed.index,
                                                       end=placed.index + 1), metadata=_as("admin"))
        event = parse_event(page.entries[0])
        assert (event.actor, event.action, event.resource) == ("legal-team", PLACE, ORIGIN)
        assert event.attrs == {"begin": 100, "end": 300, "objects": len(names),
                               "size": placed.size, "reason": "case 17"}

        # Release, by the command, naming the hold's entry: the same objects, now OFF.
        token = tmp_path / "admin.token"
        token.write_text(TOKENS["admin"])
        common = ["--server", server.address, "--log", ORIGIN, "--token-file", str(token),
                  "--state-dir", str(tmp_path / "state")]
        assert main(["hold", *common, "--release", "--hold-entry", "3"]) == 2  # not a hold
        capsys.readouterr()
        assert main(["hold", *common, "--release", "--hold-entry", str(placed.index),
                     "--reason", "case closed", "--json"]) == 0
        released = json.loads(capsys.readouterr().out)
        assert (released["action"], released["size"]) == ("released", placed.size)
        assert released["index"] > placed.index and released["objects"] == len(names)
        assert all(_hold_status(s3, bucket, name) == "OFF" for name in names)
        (page,) = stub.GetEntries(pb.GetEntriesRequest(log=ORIGIN, begin=released["index"],
                                                       end=released["index"] + 1),
                                  metadata=_as("admin"))
        event = parse_event(page.entries[0])
        assert event.action == RELEASE and event.attrs["reason"] == "case closed"

        # By time: the entries the log sequenced between two instants, through its time map.
        def stamp(t: datetime) -> str:
            return t.isoformat().replace("+00:00", "Z")

        assert main(["hold", *common, "--since", stamp(before), "--until", stamp(after),
                     "--reason", "by time", "--json"]) == 0
        timed = json.loads(capsys.readouterr().out)
        assert (timed["begin"], timed["end"]) == (0, 600)
        assert all(_hold_status(s3, bucket, name) == "ON" for name in held_objects(
            timed["size"], 0, 600))
        early = stamp(before - timedelta(days=1))
        assert main(["hold", *common, "--since", early, "--until", early]) == 2  # nothing then
        assert "sequenced no entries then" in capsys.readouterr().err


def test_legal_hold_calls_against_moto(moto_url: str) -> None:
    client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                                    aws_access_key_id="test", aws_secret_access_key="test")
    try:
        client.create_bucket(Bucket="holds-moto", ObjectLockEnabledForBucket=True)
        bucket = LockedBucket(client, "holds-moto", 1, "log/")
        assert bucket.put_once("tile/entries/000.p/1", b"\x00\x01x")
        assert not legal_hold(bucket, "tile/entries/000.p/1")
        set_legal_hold(bucket, "tile/entries/000.p/1", True)
        assert legal_hold(bucket, "tile/entries/000.p/1")
        set_legal_hold(bucket, "tile/entries/000.p/1", False)
        assert not legal_hold(bucket, "tile/entries/000.p/1")
        with pytest.raises(S3Error) as missing:
            set_legal_hold(bucket, "tile/entries/999", True)
        assert missing.value.kind is not Failure.BROKEN
    finally:
        client.close()


def test_a_bucket_retaining_less_than_the_log_is_refused(
    s3: S3Client, seaweed_url: str, tmp_path: Path
) -> None:
    bucket = seaweedfs.make_bucket(s3, "short")
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
    with pytest.raises(S3Error) as short:
        LockedBucket(s3, bucket, 30).check()
    assert short.value.guarantee is Guarantee.RETENTION
    LockedBucket(s3, bucket, 1).check()  # as long as the log's: fine
    with pytest.raises(RuntimeError) as refused:
        start_server(_config(tmp_path, seaweed_url, bucket, retention_days=30))
    message = " ".join(str(refused.value).split())
    assert "default retention is 1 days" in message and "retention_days of 30" in message


@pytest.mark.parametrize(("size", "begin", "end"), [
    (1, 0, 1), (256, 0, 256), (257, 256, 257), (700, 255, 513), (66_000, 65_530, 65_540),
])
def test_the_held_objects_alone_prove_the_range(tmp_path: Path, size: int, begin: int,
                                                end: int) -> None:
    log = _log(tmp_path / "db", Ed25519Signer.generate(PUBLISHED))
    try:
        log.append(size)
        store = log.store
        published = {name: read() for name, read in changed_objects(store, 0, size)}
        published[history_name(size)] = store.checkpoint(size) or b""
        mirror = tmp_path / "mirror"
        for name in held_objects(size, begin, end):
            path = mirror / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(published[name])
        (mirror / "checkpoint").write_bytes(published[history_name(size)])
        source = TileSource(FileFetcher(mirror), PUBLISHED, SHA256)
        try:
            for index, entry in source.entries(begin, end):
                assert entry == b"e%d" % index
                proof = source.inclusion_proof(index=index, size=size).proof
                verify_inclusion(SHA256, index, size, SHA256.hash_leaf(entry), proof, store.root)
        finally:
            source.close()
    finally:
        log.db.close()
