"""Issue 17 part 3, end to end (docs/erasure.md): a real server with principals publishes to a
real object store (SeaweedFS); a service appends an event whose personal fields are addenda;
an admin erases them with ``auditlog erase``. Afterwards the entry, its receipt and every proof
verify, the erasure is an entry of the log (who, what, when, why), the personal data is in no
file under the data directory and no object version in the bucket, a search of the entries for
the subject finds the entry but not the personal data, and every refusal has its status.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest

from auditlog_tlog.client.cli import main as auditlog_main
from auditlog_tlog.client.event import AuditEvent, parse_event
from auditlog_tlog.client.personal import personal
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.security import hash_token
from auditlog_tlog.tree.addenda import Addendum, path
from auditlog_tlog.tree.errors import NotFoundError, PermissionDeniedError
from tests import seaweedfs
from tests.servers import RunningServer, running, write_server_config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ORIGIN = "e2e.example/erasure"
SUBJECT = "u-1842"  # the pseudonymous subject stays in the entry (a partition key)
EMAIL = "alice.liddell.0451@example.com"
NAME = "Alice Pleasance Liddell 0451"
TOKENS = {"svc": "svc-secret", "dpo": "dpo-secret"}
PRINCIPALS = f"""
[[principal]]
name = "svc"
token_sha256 = "{hash_token(TOKENS['svc'])}"
roles = {{ "{ORIGIN}" = ["append", "read"] }}

[[principal]]
name = "dpo"
token_sha256 = "{hash_token(TOKENS['dpo'])}"
roles = {{ "{ORIGIN}" = ["admin"] }}
"""


@pytest.fixture
def published(seaweed_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
              ) -> Iterator[tuple[RunningServer, S3Client, str]]:
    for name, value in seaweedfs.CREDENTIALS.items():
        monkeypatch.setenv(name, value)  # the server process inherits them
    s3 = seaweedfs.client(seaweed_url)
    bucket = seaweedfs.make_bucket(s3, "erasure")
    config = write_server_config(tmp_path, (ORIGIN,), extra_log=(
        f'[log.publish]\nbucket = "{bucket}"\nendpoint_url = "{seaweed_url}"\n'
        'region = "us-east-1"\nretention_days = 1\ninterval_s = 0.05\n'
    ))
    with config.open("a") as f:  # top-level tables, after the logs
        f.write(PRINCIPALS)
    for server in running(config):
        yield server, s3, bucket
    s3.close()


def _meta(who: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {TOKENS[who]}"),)


def _wait_published(stub: object, size: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN), metadata=_meta("svc"))  # type: ignore[attr-defined]
        if info.publication.published_size >= size:
            return
        time.sleep(0.05)
    raise AssertionError(f"the bucket did not reach size {size}")


def _files_holding(directory: Path, needles: tuple[bytes, ...]) -> list[str]:
    return sorted(str(p) for p in directory.rglob("*")
                  if p.is_file() and any(n in p.read_bytes() for n in needles))


def _objects_holding(s3: S3Client, bucket: str, needles: tuple[bytes, ...]) -> tuple[int, list[str]]:
    """(object versions read, keys of those holding a needle): every version, not only the latest."""
    seen, found = 0, []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            body = s3.get_object(Bucket=bucket, Key=version["Key"],
                                 VersionId=version["VersionId"])["Body"].read()
            seen += 1
            if any(n in body for n in needles):
                found.append(version["Key"])
    return seen, found


def _cli(capsys: pytest.CaptureFixture[str], server: RunningServer, token_dir: Path, who: str,
         vkey: str, *args: str) -> tuple[int, str, str]:
    token = token_dir / f"{who}.token"
    token.write_text(TOKENS[who])
    online = ["--server", server.address, "--token-file", str(token)] if args[0] != "verify" else []
    code = auditlog_main([*args, *online, "--log", ORIGIN, "--log-key", vkey, "--quorum", "0",
                          "--state-dir", str(token_dir / "state")])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_erasure_end_to_end(published: tuple[RunningServer, S3Client, str], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    server, s3, bucket = published
    stub = server.stub()
    needles = (EMAIL.encode(), NAME.encode())
    with LogClient(server.address, ORIGIN, token=TOKENS["svc"]) as svc:
        vkey = svc.log_info().verifier_key
        svc.append_batch([b"before %d" % i for i in range(300)])
        sealed = personal(AuditEvent(SUBJECT, "profile.update", "crm/contacts/77",
                                     attributes={"email": EMAIL, "plan": "pro"}), {"name": NAME},
                          keys={"email"})
        result = svc.append(sealed, receipt=True)
        svc.append_batch([b"after %d" % i for i in range(300)])
        index = result.index
        digests = dict(sealed.event.addenda)
        state = svc.addendum(bytes.fromhex(digests["email"]))
        assert state.addendum is not None and state.addendum.value == EMAIL and state.index == index
    _wait_published(stub, 601)
    data_dir = tmp_path / "data"
    assert _files_holding(data_dir, needles), "the personal data must be on disk before erasure"
    read, holding = _objects_holding(s3, bucket, needles)
    assert read >= 5 and holding == [], "addenda are never published"

    # The addendum over HTTP, where tlog-addenda serves it; never cached.
    url = f"{server.tiles_url}/{ORIGIN}/{path(bytes.fromhex(digests['email']))}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKENS['svc']}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.read() == sealed.encoded_addenda()[0]
        assert reply.headers["Cache-Control"] == "no-store"

    # Refusals: a non-admin, a bad digest, an unknown digest, nothing to erase.
    with pytest.raises(grpc.RpcError) as denied:
        stub.Erase(pb.EraseRequest(log=ORIGIN, index=index, why="x"), metadata=_meta("svc"))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for bad, words in (
        (pb.EraseRequest(log=ORIGIN, digests=[b"short"], why="x"), "want 32"),
        (pb.EraseRequest(log=ORIGIN, index=index, why=""), "want 1 to 1024"),
        (pb.EraseRequest(log=ORIGIN, why="x"), "want exactly one"),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            stub.Erase(bad, metadata=_meta("dpo"))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        assert words in str(refused.value.details())
    with pytest.raises(grpc.RpcError) as unknown:
        stub.Erase(pb.EraseRequest(log=ORIGIN, digests=[bytes(32)], why="x"), metadata=_meta("dpo"))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as nothing:
        stub.Erase(pb.EraseRequest(log=ORIGIN, index=3, why="x"), metadata=_meta("dpo"))
    assert nothing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "commits no addenda" in str(nothing.value.details())

    # The erasure, with the real command.
    code, out, err = _cli(capsys, server, tmp_path, "dpo", vkey, "erase", "--index", str(index),
                          "--why", "GDPR art. 17 request 4411", "--json")
    assert code == 0, err
    done = json.loads(out)
    erasure_index = done["erasure_index"]
    assert done["index"] == index and sorted(done["digests"]) == sorted(digests.values())

    # Gone from every file of the data directory (database, WAL, anchors) and from the bucket.
    assert _files_holding(data_dir, needles) == []
    _wait_published(stub, erasure_index + 1)
    read_after, holding = _objects_holding(s3, bucket, needles)
    assert read_after > read and holding == []

    # The erasure is an entry: who, what, when, why.
    with LogClient(server.address, ORIGIN, token=TOKENS["svc"]) as svc:
        ((_, record),) = list(svc.entries(erasure_index, erasure_index + 1))
        event = parse_event(record)
        assert (event.actor, event.action, event.resource) == (
            "dpo", "auditlog.erasure", f"{ORIGIN}/entries/{index}")
        assert event.attrs["entry"] == index and event.attrs["why"] == "GDPR art. 17 request 4411"
        assert sorted(str(event.attrs["digests"]).split(",")) == sorted(digests.values())
        assert abs(event.time.timestamp() - time.time()) < 60
        state = svc.addendum(bytes.fromhex(digests["name"]))
        assert state.addendum is None and state.erased_by == erasure_index
        # A search of the entries for the subject finds the entry, not the personal data.
        found = [(i, e) for i, e in svc.entries(0, erasure_index + 1) if SUBJECT.encode() in e]
        assert [i for i, _ in found] == [index]
        assert not any(n in found[0][1] for n in needles)
        assert found[0][1] == sealed.encode()  # the entry bytes are unchanged

    # The receipt and the proofs still verify; the commands say the addenda were erased.
    receipt = tmp_path / "r.tlog-proof"
    receipt.write_bytes(result.receipt)
    (tmp_path / "entry").write_bytes(sealed.encode())
    code, out, err = _cli(capsys, server, tmp_path, "svc", vkey, "verify", str(receipt),
                          "--file", str(tmp_path / "entry"))
    assert code == 0 and f"OK: entry {index}" in out, err
    code, out, err = _cli(capsys, server, tmp_path, "svc", vkey, "prove", "--index", str(index))
    assert code == 0, err
    code, out, err = _cli(capsys, server, tmp_path, "svc", vkey, "addenda", "--index", str(index))
    assert code == 0, err
    assert f"email: erased (the erasure is entry {erasure_index})" in out
    assert f"name: erased (the erasure is entry {erasure_index})" in out
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(request, timeout=10)
    assert gone.value.code == 404 and b"was erased, by entry" in gone.value.read()

    # A second erasure is a clear NOT_FOUND.
    code, out, err = _cli(capsys, server, tmp_path, "dpo", vkey, "erase", "--digest",
                          digests["email"], "--why", "again")
    assert code == 1 and f"already erased, by entry {erasure_index}" in err
    with LogClient(server.address, ORIGIN, token=TOKENS["dpo"]) as dpo, \
            pytest.raises(NotFoundError, match="no addenda left"):
        dpo.erase("again", index=index)


def test_appends_with_bad_addenda_are_refused(
        published: tuple[RunningServer, S3Client, str]) -> None:
    server, _, _ = published
    stub = server.stub()
    sealed = personal(AuditEvent(SUBJECT, "login", "sso"), {"email": EMAIL})
    (good,) = sealed.encoded_addenda()
    other = Addendum("email", "someone@else", b"\x00" * 16).encode()
    huge = Addendum("email", "x" * 9000, b"\x00" * 16)
    for addenda, words in (
        ([other], "want the addendum it commits"),
        ([good.replace(b'"nonce"', b'"nonce" ')], "not the canonical encoding"),
        ([b'{"field":"email","nonce":"00","value":"a"}'], "nonce must be"),
        ([good] * 17, "want at most 16"),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            stub.Append(pb.AppendRequest(log=ORIGIN, entry=sealed.encode(), addenda=addenda),
                        metadata=_meta("svc"))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        assert words in str(refused.value.details())
    with pytest.raises(ValueError, match="want at most 1024"):
        huge.encode()
    with pytest.raises(grpc.RpcError) as oversized:
        stub.Append(pb.AppendRequest(log=ORIGIN, entry=sealed.encode(), addenda=[b"{" * 9000]),
                    metadata=_meta("svc"))
    assert oversized.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "want at most 1024" in str(oversized.value.details())
    info = stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN), metadata=_meta("svc"))
    assert info.size == 0, "a refused append changes nothing"
    auth = {"Authorization": f"Bearer {TOKENS['svc']}"}
    for tail, code, said in ((f"addenda/00/11/{'00' * 32}", 400, b"want addenda/<s0>/<s1>"),
                              ("addenda/" + "A" * 64, 400, b"64 lowercase hex digits"),
                              (path(bytes(32)), 404, b"no addendum 00")):
        request = urllib.request.Request(f"{server.tiles_url}/{ORIGIN}/{tail}", headers=auth)
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=10)
        assert answer.value.code == code and said in answer.value.read()
    with pytest.raises(grpc.RpcError) as short:
        stub.GetAddendum(pb.GetAddendumRequest(log=ORIGIN, digest=b"x"), metadata=_meta("svc"))
    assert short.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with LogClient(server.address, ORIGIN, token=TOKENS["svc"]) as svc, \
            pytest.raises(PermissionDeniedError):
        svc.erase("not mine", index=0)
