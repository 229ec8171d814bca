"""Pull mode against a real log server (``auditlog serve``) that requires mutual TLS and has
principals: the witness dials with the log's CA, its client certificate and a bearer token with
the ``read`` role on that log (AddCosignature needs no role). The witness is mid-rotation, with
two active keys, and the log knows only the old one: it keeps that line and skips the other."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.proto import auditlog_pb2_grpc as pb_grpc
from auditlog_tlog.server.security import hash_token
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import open_note
from auditlog_tlog.witness.app import WitnessApp
from auditlog_tlog.witness.config import parse_config
from auditlog_tlog.witness.pull import Puller
from auditlog_tlog.witness.tls import channel_credentials
from tests.servers import RunningServer, running, write_server_config
from tests.witness.helpers import Pki, make_witness, write_pki

LOG = "pull.example/private"
NAME = "witness.example/puller"
TOKENS = {"witness": "witness-secret", "writer": "writer-secret"}


def _secret(path: Path, text: str, mode: int = 0o600) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    path.chmod(mode)
    return path


@dataclass
class Setup:
    dir: Path
    pki: Pki
    log_key: Ed25519Signer
    old: CosignatureSigner
    new: CosignatureSigner
    server: RunningServer

    def witness_toml(self, **overrides: str) -> str:
        pull = {"grpc": f'"{self.server.address}"', "ca_file": '"ca.pem"',
                "client_cert_file": '"client.pem"', "client_key_file": '"client.key"',
                "token_file": '"witness.token"', "poll_interval_s": "0.1", **overrides}
        return (f'[witness]\nname = "{NAME}"\nlisten = ""\n'
                '[[witness.key]]\nfile = "old.key"\n[[witness.key]]\nfile = "new.key"\n'
                f'[[log]]\norigin = "{LOG}"\nvkey = "{self.log_key.vkey()}"\n'
                + "".join(f"{k} = {v}\n" for k, v in pull.items() if v))

    def channel(self) -> grpc.Channel:
        credentials = grpc.ssl_channel_credentials(
            self.pki.ca.read_bytes(), self.pki.client_key.read_bytes(),
            self.pki.client_cert.read_bytes())
        return grpc.secure_channel(self.server.address, credentials)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    base = tmp_path_factory.mktemp("pull-tls")
    pki = write_pki(base, client_name="w1.internal")  # a certificate that maps to no principal
    log_key = Ed25519Signer.generate(LOG)
    old, new = CosignatureSigner.generate(NAME), CosignatureSigner.generate(NAME)
    _secret(base / "log.key", log_key.skey())
    _secret(base / "old.key", old.skey())
    _secret(base / "new.key", new.skey())
    _secret(base / "witness.token", TOKENS["witness"])
    tls = ('[server.tls]\ncert_file = "server.pem"\nkey_file = "server.key"\n'
           'client_ca_file = "ca.pem"\n')
    config = write_server_config(
        base, (LOG,), extra_server=tls,
        extra_log=f'key_file = "log.key"\n[[log.witness]]\nvkey = "{old.vkey()}"\n')
    with config.open("a") as f:
        f.write(f'[[principal]]\nname = "witness"\ntoken_sha256 = "{hash_token(TOKENS["witness"])}"\n'
                f'roles = {{ "{LOG}" = ["read"] }}\n'
                f'[[principal]]\nname = "writer"\ntoken_sha256 = "{hash_token(TOKENS["writer"])}"\n'
                f'roles = {{ "{LOG}" = ["append", "read"] }}\n')
    with contextlib.contextmanager(running)(config) as server:
        yield Setup(base, pki, log_key, old, new, server)


def _bearer(who: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {TOKENS[who]}"),)


def test_pull_witness_cosigns_over_mutual_tls_with_a_read_token(setup: Setup) -> None:
    app = WitnessApp(parse_config(setup.witness_toml(), setup.dir))
    app.start()
    try:
        with setup.channel() as channel:
            stub = pb_grpc.LogStub(channel)
            entries = [f"event {i}".encode() for i in range(7)]
            stub.AppendBatch(pb.AppendBatchRequest(log=LOG, entries=entries),
                             metadata=_bearer("writer"), timeout=10)
            deadline = time.monotonic() + 15
            while True:
                got = stub.GetCheckpoint(pb.GetCheckpointRequest(log=LOG),
                                         metadata=_bearer("writer"), timeout=10)
                if got.size >= 7 and list(got.witnesses) == [NAME]:
                    break
                assert time.monotonic() < deadline, "the pull witness never cosigned"
                time.sleep(0.05)
    finally:
        app.stop()
    # The log kept the line by the key it knows; the new key's line was skipped, not refused.
    opened = open_note(got.checkpoint, [setup.log_key.verifier(), setup.old.verifier()])
    assert {v.key_id for v in opened.verified} == {setup.log_key.key_id, setup.old.key_id}
    assert setup.new.key_id not in {s.key_id for s in opened.note.signatures}
    state = app.witness.state_of(LOG)
    assert state is not None and state.size >= 7
    open_note(state.checkpoint, [setup.new.verifier()])  # the witness signed with both keys


@pytest.mark.parametrize("drop, code", [
    (("token_file",), grpc.StatusCode.UNAUTHENTICATED),
    (("client_cert_file", "client_key_file"), grpc.StatusCode.UNAVAILABLE),  # no handshake
])
def test_pull_without_the_token_or_the_client_certificate_is_refused(
    setup: Setup, tmp_path: Path, drop: tuple[str, ...], code: grpc.StatusCode
) -> None:
    entry = parse_config(setup.witness_toml(**dict.fromkeys(drop, "")), setup.dir).logs[0]
    witness = make_witness(tmp_path, [])
    puller = Puller(witness, LOG, entry.grpc, timeout_s=5, credentials=channel_credentials(entry))
    try:
        with pytest.raises(grpc.RpcError) as info:
            puller.poll_once()
        assert info.value.code() == code
    finally:
        puller.close()


@pytest.mark.parametrize("secret", ["witness.token", "client.key"])
def test_a_token_or_client_key_others_can_read_stops_the_start(
    setup: Setup, tmp_path: Path, secret: str
) -> None:
    loose = _secret(tmp_path / secret, (setup.dir / secret).read_text().strip(), mode=0o644)
    field = "token_file" if secret.endswith("token") else "client_key_file"
    app = WitnessApp(parse_config(setup.witness_toml(**{field: f'"{loose}"'}), setup.dir))
    with pytest.raises(PermissionError, match=re.escape(f"run 'chmod 600 {loose}'")):
        app.start()

