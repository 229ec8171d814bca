"""Issue 7 over real TLS on loopback: every role on every log, mTLS, quotas, signed appends,
plain text refused off loopback, and key rotation end to end."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.proto import auditlog_pb2_grpc as pb_grpc
from auditlog_tlog.server.security import hash_token
from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import open_note, sign_note
from auditlog_tlog.tree.tlogproof import parse_tlog_proof
from auditlog_tlog.tree.verify import verify_inclusion
from auditlog_tlog.tree.vkeys import parse_vkey
from tests.server.certs import CA, Pair
from tests.servers import AUDITLOG, RunningServer, running, start_server, write_server_config

LOG_A = "a.example/private"
LOG_B = "b.example/public"
TOKENS = {"writer": "w-secret", "reader": "r-secret"}
APPENDER = Ed25519Signer.generate("appender.example/svc")

PRINCIPALS = f"""
[[principal]]
name = "writer"
token_sha256 = "{hash_token(TOKENS['writer'])}"
roles = {{ "{LOG_A}" = ["append"] }}

[[principal]]
name = "reader"
token_sha256 = "{hash_token(TOKENS['reader'])}"
roles = {{ "{LOG_A}" = ["read"] }}

[[principal]]
name = "admin"
cert_names = ["admin.internal"]
roles = {{ "*" = ["admin"] }}

[[principal]]
name = "b-writer"
cert_names = ["b.internal"]
roles = {{ "{LOG_B}" = ["append", "read"] }}
append_entries_per_s = 5
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pair | CA]:
    ca = CA()
    return {"ca": ca, "server": ca.issue("server", server=True),
            "admin": ca.issue("admin.internal"), "b": ca.issue("b-svc", dns=("b.internal",)),
            "plain": ca.issue("some-host"),  # a valid certificate that maps to no principal
            "stranger": CA("another CA").issue("admin.internal")}


def _tls_config(directory: Path, pki: dict[str, Pair | CA], mutual: bool = True) -> Path:
    ca, server = pki["ca"], pki["server"]
    assert isinstance(ca, CA) and isinstance(server, Pair)
    (directory / "ca.pem").write_bytes(ca.pem)
    server.write(directory, "server")
    tls = '[server.tls]\ncert_file = "server.pem"\nkey_file = "server.key"\n'
    if mutual:
        tls += 'client_ca_file = "ca.pem"\n'

    config = write_server_config(directory, (LOG_A,), extra_server=tls)
    with config.open("a") as f:
        f.write(f'[[log]]\norigin = "{LOG_B}"\npublic_read = true\nrequire_signed_entries = true\n'
                f'appender_keys = ["{APPENDER.vkey()}"]\n' + PRINCIPALS)
    return config


@pytest.fixture(scope="module")
def tls_server(
    tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Pair | CA]
) -> Iterator[RunningServer]:
    yield from running(_tls_config(tmp_path_factory.mktemp("tls"), pki))


def _channel(server: RunningServer, pki: dict[str, Pair | CA], client: str | None) -> grpc.Channel:
    ca = pki["ca"]
    assert isinstance(ca, CA)
    pair = pki[client] if client else None
    assert pair is None or isinstance(pair, Pair)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca.pem,
        private_key=pair.key_pem if pair else None,
        certificate_chain=pair.cert_pem if pair else None,
    )
    return grpc.secure_channel(server.address, credentials)


def _metadata(who: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {TOKENS[who]}"),) if who in TOKENS else ()


def _entry(log: str, n: int) -> bytes:
    text = f"event {n}\n"
    return sign_note(text, [APPENDER]) if log == LOG_B else text.encode()


ROLES = {"writer": {LOG_A: {"append"}}, "reader": {LOG_A: {"read"}},
         "admin": {LOG_A: {"append", "read"}, LOG_B: {"append", "read"}},
         "b-writer": {LOG_B: {"append", "read"}}, "anonymous": {}}
# Under mutual TLS every client presents a certificate; token holders and anonymous callers
# present one that maps to no principal.
CLIENT_CERT = {"admin": "admin", "b-writer": "b"}
counter = itertools.count()


@pytest.mark.parametrize(("who", "log", "op"),
                         list(itertools.product(ROLES, (LOG_A, LOG_B), ("append", "read"))))
def test_role_matrix(tls_server: RunningServer, pki: dict[str, Pair | CA], who: str, log: str,
                     op: str) -> None:
    allowed = op in ROLES[who].get(log, set()) or (op == "read" and log == LOG_B)
    with _channel(tls_server, pki, CLIENT_CERT.get(who, "plain")) as channel:
        stub = pb_grpc.LogStub(channel)
        try:
            if op == "append":
                stub.Append(pb.AppendRequest(log=log, entry=_entry(log, next(counter))),
                            metadata=_metadata(who), timeout=10)
            else:
                stub.GetCheckpoint(pb.GetCheckpointRequest(log=log), metadata=_metadata(who),
                                   timeout=10)
            code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
    if allowed:
        assert code == grpc.StatusCode.OK
    elif who == "anonymous":
        assert code == grpc.StatusCode.UNAUTHENTICATED and "needs a credential" in details
    else:
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert f"lacks the '{op}' role on '{log}'" in details


def test_denials_are_counted_and_unknown_tokens_refused(
    tls_server: RunningServer, pki: dict[str, Pair | CA]
) -> None:
    import urllib.request

    with _channel(tls_server, pki, "plain") as channel:
        stub = pb_grpc.LogStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Append(pb.AppendRequest(log=LOG_A, entry=b"x"),
                        metadata=(("authorization", "Bearer nope"),))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with urllib.request.urlopen(tls_server.metrics_url, timeout=5) as response:
        text = response.read().decode()
    assert 'auditlog_denied_total{code="UNAUTHENTICATED",method="Append"}' in text


def test_certificate_from_another_ca_is_refused(tls_server: RunningServer,
                                                 pki: dict[str, Pair | CA]) -> None:
    with _channel(tls_server, pki, "stranger") as channel, pytest.raises(grpc.RpcError) as info:
        pb_grpc.LogStub(channel).GetCheckpoint(pb.GetCheckpointRequest(log=LOG_B), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # the handshake fails


def test_signed_appends_refuse_unsigned_and_foreign_entries(
    tls_server: RunningServer, pki: dict[str, Pair | CA]
) -> None:
    other = Ed25519Signer.generate("appender.example/svc")
    with _channel(tls_server, pki, "admin") as channel:
        stub = pb_grpc.LogStub(channel)
        for entry in (b"plain text\n", sign_note("forged\n", [other])):
            with pytest.raises(grpc.RpcError) as info:
                stub.Append(pb.AppendRequest(log=LOG_B, entry=entry))
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "not a signed note of a registered appender key" in info.value.details()


def test_quota_pushes_back_with_a_retry_hint(tls_server: RunningServer,
                                              pki: dict[str, Pair | CA]) -> None:
    with _channel(tls_server, pki, "b") as channel:
        stub = pb_grpc.LogStub(channel)
        codes = []
        for _ in range(12):
            try:
                stub.Append(pb.AppendRequest(log=LOG_B, entry=_entry(LOG_B, next(counter))))
                codes.append("OK")
            except grpc.RpcError as exc:
                codes.append(exc.code().name)
                assert "entries quota of 5/s; retry after" in exc.details()
    assert "OK" in codes and "RESOURCE_EXHAUSTED" in codes


def test_mutual_tls_refuses_clients_without_a_certificate(
    tls_server: RunningServer, pki: dict[str, Pair | CA]
) -> None:
    with _channel(tls_server, pki, None) as channel, pytest.raises(grpc.RpcError) as info:
        pb_grpc.LogStub(channel).GetCheckpoint(pb.GetCheckpointRequest(log=LOG_B), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_server_only_tls_with_tokens(tmp_path: Path, pki: dict[str, Pair | CA]) -> None:
    server = start_server(_tls_config(tmp_path, pki, mutual=False))
    try:
        with _channel(server, pki, None) as channel:
            stub = pb_grpc.LogStub(channel)
            assert stub.GetCheckpoint(pb.GetCheckpointRequest(log=LOG_B), timeout=5).checkpoint
            stub.Append(pb.AppendRequest(log=LOG_A, entry=b"by token"), metadata=_metadata("writer"))
            with pytest.raises(grpc.RpcError) as info:
                stub.Append(pb.AppendRequest(log=LOG_A, entry=b"no token"))
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        server.stop()


def test_plain_text_off_loopback_is_refused_unless_insecure(tmp_path: Path) -> None:
    config = write_server_config(tmp_path, (LOG_A,))
    config.write_text(config.read_text().replace('listen = "127.0.0.1:0"', 'listen = "0.0.0.0:0"'))
    result = subprocess.run([*AUDITLOG, "serve", "--config", str(config)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode != 0 and "refusing plain-text gRPC on 0.0.0.0:0" in result.stderr


def test_key_rotation_end_to_end(tmp_path: Path) -> None:
    config = write_server_config(tmp_path, (LOG_A,))
    server = start_server(config)
    try:
        old_vkey = server.stub().GetLogInfo(pb.GetLogInfoRequest(log=LOG_A)).verifier_key
        old_receipt = server.stub().Append(
            pb.AppendRequest(log=LOG_A, entry=b"before", want_receipt=True)).result.receipt
    finally:
        server.stop()
    old_key = next((tmp_path / "keys").iterdir())
    new_key = Ed25519Signer.generate(LOG_A)
    (tmp_path / "keys" / "new.key").write_text(new_key.skey())
    (tmp_path / "keys" / "new.key").chmod(0o600)
    overlap = (f'\n[[log.key]]\nfile = "keys/{old_key.name}"\nsince = "2026-01-01"\n'
               f'[[log.key]]\nfile = "keys/new.key"\nsince = "2026-11-23"\n')
    base = config.read_text()
    config.write_text(base + overlap)
    server = start_server(config)
    try:
        stub = server.stub()
        info = stub.GetLogInfo(pb.GetLogInfoRequest(log=LOG_A))
        assert [(k.verifier_key, k.state) for k in info.keys] == [
            (old_vkey, "active"), (new_key.vkey(), "active")]
        note = stub.Append(pb.AppendRequest(log=LOG_A, entry=b"during", want_receipt=True)).result
        checkpoint = parse_tlog_proof(note.receipt).checkpoint
        opened = open_note(checkpoint, [parse_vkey(old_vkey), new_key.verifier()])
        assert {v.key_id for v in opened.verified} == {parse_vkey(old_vkey).key_id,
                                                       new_key.verifier().key_id}
    finally:
        server.stop()
    retired = (f'\n[[log.key]]\nvkey = "{old_vkey}"\nstate = "retired"\nuntil = "2026-11-24"\n'
               f'[[log.key]]\nfile = "keys/new.key"\n')
    config.write_text(base + retired)
    server = start_server(config)
    try:
        stub = server.stub()
        info = stub.GetLogInfo(pb.GetLogInfoRequest(log=LOG_A))
        assert [k.state for k in info.keys] == ["active", "retired"]
        assert info.verifier_key == new_key.vkey()
        result = stub.Append(pb.AppendRequest(log=LOG_A, entry=b"after", want_receipt=True)).result
        latest = parse_tlog_proof(result.receipt).checkpoint
        opened = open_note(latest, [parse_vkey(old_vkey), new_key.verifier()])
        assert [v.key_id for v in opened.verified] == [new_key.verifier().key_id]
    finally:
        server.stop()
    # A receipt issued before the rotation still verifies offline with the retired key.
    receipt = parse_tlog_proof(old_receipt)
    cp = parse_checkpoint(open_note(receipt.checkpoint, [parse_vkey(old_vkey)]).note.text)
    verify_inclusion(SHA256, receipt.index, cp.size, SHA256.hash_leaf(b"before"), receipt.proof,
                     cp.root)


def test_a_stream_message_with_an_empty_log_is_authorized_for_the_streams_log(
    tls_server: RunningServer, pki: dict[str, Pair | CA]
) -> None:
    """Later messages of an AppendStream may leave ``log`` empty: they append to the stream's
    log, and the caller's role on that log is what counts (not a role on the log '')."""
    requests = [pb.AppendStreamRequest(log=LOG_A, entries=[b"stream-0"], sequence=0),
                pb.AppendStreamRequest(entries=[b"stream-1"], sequence=1),
                pb.AppendStreamRequest(entries=[b"stream-2"], sequence=2)]
    with _channel(tls_server, pki, "plain") as channel:
        stub = pb_grpc.LogStub(channel)
        acks = list(stub.AppendStream(iter(requests), metadata=_metadata("writer"), timeout=10))
        assert [a.sequence for a in acks] == [0, 1, 2]
        indexes = [a.results[0].index for a in acks]
        assert indexes == list(range(indexes[0], indexes[0] + 3))
        # A message naming another log is still checked against that log, and refused.
        other = [requests[0], pb.AppendStreamRequest(log=LOG_B, entries=[b"x"], sequence=1)]
        with pytest.raises(grpc.RpcError) as info:
            list(stub.AppendStream(iter(other), metadata=_metadata("writer"), timeout=10))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "want 'a.example/private' or empty" in (info.value.details() or "")


def test_proof_calls_need_the_read_role(tls_server: RunningServer,
                                        pki: dict[str, Pair | CA]) -> None:
    """The proof calls are served in the gRPC handler's own coroutine (server/handlers.py):
    the caller's role is checked there too, before the proof, and a denial is counted."""
    import urllib.request

    proofs = (("GetInclusionProof", pb.GetInclusionProofRequest(log=LOG_A, index=0)),
              ("GetConsistencyProof", pb.GetConsistencyProofRequest(log=LOG_A, size1=0)))
    for who, want in (("anonymous", grpc.StatusCode.UNAUTHENTICATED),
                      ("writer", grpc.StatusCode.PERMISSION_DENIED)):
        with _channel(tls_server, pki, CLIENT_CERT.get(who, "plain")) as channel:
            stub = pb_grpc.LogStub(channel)
            for method, request in proofs:
                with pytest.raises(grpc.RpcError) as info:
                    getattr(stub, method)(request, metadata=_metadata(who), timeout=10)
                assert info.value.code() == want, (who, method)
    with _channel(tls_server, pki, "plain") as channel:
        answer = pb_grpc.LogStub(channel).GetConsistencyProof(
            proofs[1][1], metadata=_metadata("reader"), timeout=10)
    assert list(answer.proof) == []
    with urllib.request.urlopen(tls_server.metrics_url, timeout=5) as response:
        text = response.read().decode()
    for method, _ in proofs:
        assert f'auditlog_denied_total{{code="UNAUTHENTICATED",method="{method}"}}' in text
        assert f'auditlog_denied_total{{code="PERMISSION_DENIED",method="{method}"}}' in text
    assert 'auditlog_requests_total{code="OK",method="GetConsistencyProof"}' in text
    assert 'method="GetInclusionProof"' not in "".join(  # denied: never served, so never counted
        line for line in text.splitlines() if line.startswith("auditlog_requests_total"))


def test_a_charge_refused_by_one_quota_takes_nothing_from_the_other() -> None:
    """Both buckets or neither: the entries quota lets 50 entries through while the bytes quota
    refuses their 50 bytes; the entries are not taken, so the next charge of the entries'
    whole second's worth passes (before, it found 49 left and waited)."""
    from auditlog_tlog.server.security import Authorizer, Principal
    from auditlog_tlog.tree.errors import PushbackError

    writer = Principal("writer", {"*": frozenset({"append"})}, token_sha256=b"\x01" * 32,
                       append_entries_per_s=100, append_bytes_per_s=100)
    authorizer = Authorizer((writer,), frozenset())
    authorizer.charge(writer, 1, 100)  # the bytes bucket is empty now, the entries' at 99
    with pytest.raises(PushbackError, match="bytes quota of 100/s"):
        authorizer.charge(writer, 50, 50)
    authorizer.charge(writer, 99, 0)
