"""The witness's tlog-witness API over real TLS on 127.0.0.1: HTTPS, mutual TLS that refuses
clients without a certificate or with one from another CA, and the plain-text rule."""

from __future__ import annotations

import http.client
import logging
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlog_tlog.common.net import is_loopback
from auditlog_tlog.tree.note import parse_signature_lines
from auditlog_tlog.witness.app import WitnessApp
from auditlog_tlog.witness.config import TLSConfig, parse_config
from auditlog_tlog.witness.tls import check_transport, server_context
from tests.witness.helpers import (
    Pki,
    TestLog,
    add_checkpoint,
    https_request,
    make_witness,
    served,
    write_pki,
)

NAME = "witness.example/w1"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return write_pki(tmp_path_factory.mktemp("pki"))


def _config(log: TestLog, witness: str = "", logs: str = "") -> str:
    return (f'[witness]\nname = "{NAME}"\nlisten = "127.0.0.1:0"\n{witness}\n'
            f'[[log]]\norigin = "{log.origin}"\nvkey = "{log.signer.vkey()}"\n{logs}')


def _tls(pki: Pki, mutual: bool) -> str:
    text = f'[witness.tls]\ncert_file = "{pki.server_cert}"\nkey_file = "{pki.server_key}"\n'
    return text + (f'client_ca_file = "{pki.ca}"\n' if mutual else "")


def test_witness_serves_https_and_no_plain_http_on_that_port(tmp_path: Path, pki: Pki) -> None:
    log = TestLog()
    witness = make_witness(tmp_path, [log])
    context = server_context(TLSConfig(pki.server_cert, pki.server_key))
    with served(witness, ssl_context=context) as server:
        reply = https_request(server.port, pki.client_context(None), "POST", "/add-checkpoint",
                              log.body(0, 4))
        assert reply.status == 200
        assert [s.name for s in parse_signature_lines(reply.body)] == [NAME]
        with pytest.raises(ConnectionError):  # the "handshake" fails, nothing is answered
            add_checkpoint(server.port, log.body(4, 6))
        untrusting = ssl.create_default_context()  # the system's roots, not the test CA
        with pytest.raises(ssl.SSLCertVerificationError):
            https_request(server.port, untrusting, "POST", "/add-checkpoint", log.body(4, 6))
    state = witness.state_of(log.origin)
    assert state is not None and state.size == 4


@pytest.fixture(scope="module")
def mtls_app(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[tuple[WitnessApp, TestLog]]:
    log = TestLog()
    directory = tmp_path_factory.mktemp("mtls")
    app = WitnessApp(parse_config(_config(log, _tls(pki, mutual=True)), directory))
    app.start()
    try:
        yield app, log
    finally:
        app.stop()


@pytest.mark.parametrize("client", [None, "stranger"])
def test_mutual_tls_refuses_a_client_without_a_certificate_of_its_ca(
    mtls_app: tuple[WitnessApp, TestLog], pki: Pki, client: str | None
) -> None:
    app, log = mtls_app
    assert app.http is not None
    with pytest.raises((ssl.SSLError, ConnectionError)):
        https_request(app.http.port, pki.client_context(client), "POST", "/add-checkpoint",
                      log.body(0, 3))
    assert app.witness.state_of(log.origin) is None


def test_mutual_tls_serves_a_client_with_a_certificate_of_its_ca(
    mtls_app: tuple[WitnessApp, TestLog], pki: Pki
) -> None:
    app, log = mtls_app
    assert app.http is not None
    reply = https_request(app.http.port, pki.client_context(), "POST", "/add-checkpoint",
                          log.body(0, 5))
    assert reply.status == 200 and parse_signature_lines(reply.body)[0].name == NAME
    assert app.witness.state_of(log.origin) is not None


def test_a_tls_key_file_others_can_read_stops_the_start(tmp_path: Path, pki: Pki) -> None:
    key = tmp_path / "server.key"
    key.write_bytes(pki.server_key.read_bytes())
    key.chmod(0o640)
    tls = f'[witness.tls]\ncert_file = "{pki.server_cert}"\nkey_file = "server.key"\n'
    app = WitnessApp(parse_config(_config(TestLog(), tls), tmp_path))
    with pytest.raises(PermissionError, match=re.escape(f"run 'chmod 600 {key}'")):
        app.start()
    assert app.http is None and not (tmp_path / "state").exists()


@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1:7700", True), ("127.8.9.1:1", True), ("[::1]:7700", True), ("localhost:1", True),
    ("0.0.0.0:7700", False), ("[::]:7700", False), ("10.0.0.1:7700", False),
    ("witness.example:7700", False),
])
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_plain_http_off_loopback_is_refused(tmp_path: Path) -> None:
    # Only the refusal is tested: nothing here may bind a non-loopback address.
    config = parse_config(_config(TestLog()).replace("127.0.0.1:0", "0.0.0.0:0"), tmp_path)
    app = WitnessApp(config)
    refusal = "refusing plain-text tlog-witness HTTP on 0.0.0.0:0: configure [witness.tls]"
    with pytest.raises(ValueError, match=re.escape(refusal)):
        app.start()
    assert app.http is None and not (tmp_path / "witness.key").exists()


def test_insecure_allows_plain_text_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = TestLog()
    text = _config(log, "insecure = true", 'grpc = "log.example:7600"\ninsecure = true\n')
    config = parse_config(text.replace("127.0.0.1:0", "0.0.0.0:0"), tmp_path)
    with caplog.at_level(logging.WARNING, "auditlog.witness"):
        check_transport(config)  # what start() runs first; it binds nothing
    warnings = [r.getMessage() for r in caplog.records]
    assert any("serving plain-text tlog-witness HTTP on 0.0.0.0:0" in w for w in warnings)
    assert any("over plain-text gRPC from log.example:7600" in w for w in warnings)


def test_plain_text_pull_off_loopback_is_refused(tmp_path: Path) -> None:
    config = parse_config(_config(TestLog(), logs='grpc = "log.example:7600"\n'), tmp_path)
    refusal = re.escape("refusing plain-text gRPC to log.example:7600: give ca_file")
    with pytest.raises(ValueError, match=refusal):
        WitnessApp(config).start()
    tls = parse_config(_config(TestLog(), logs='grpc = "log.example:7600"\nca_file = "ca.pem"\n'),
                       tmp_path)
    check_transport(tls)  # TLS to a remote log is fine
    assert tls.logs[0].ca_file == tmp_path / "ca.pem"


@pytest.mark.parametrize("witness, logs, problem", [
    ("", 'ca_file = "ca.pem"\n', "only apply to pull mode"),
    ("", 'grpc = "127.0.0.1:1"\nca_file = "c"\nclient_cert_file = "c"\n', "needs both"),
    ("", 'grpc = "127.0.0.1:1"\nclient_cert_file = "c"\nclient_key_file = "k"\n', "give ca_file"),
    ("", 'grpc = "127.0.0.1:1"\ninsecure = "yes"\n', "want bool"),
    ('[witness.tls]\ncert_file = "c"\n', "", "cert_file and key_file are required"),
    ('[witness.tls]\ncert_file = "c"\nkey_file = "k"\nca = "x"\n', "", "unknown keys"),
    ('key_file = "w.key"\n[[witness.key]]\nfile = "a.key"\n', "", "not both"),
    ('[[witness.key]]\nfile = "a.key"\nstate = "retired"\n', "", "no active key"),
    ('[[witness.key]]\nstate = "retired"\n', "", "needs file"),
    ('[[witness.key]]\nfile = "a.key"\nstate = "old"\n', "", "want 'active' or 'retired'"),
])
def test_tls_and_key_config_errors_say_what_is_wrong(
    tmp_path: Path, witness: str, logs: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_config(_config(TestLog(), witness, logs), tmp_path)


def test_a_plain_client_gets_a_closed_connection_not_a_hang(tmp_path: Path, pki: Pki) -> None:
    witness = make_witness(tmp_path, [TestLog()])
    context = server_context(TLSConfig(pki.server_cert, pki.server_key))
    with served(witness, ssl_context=context, timeout_s=0.5) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            conn.connect()  # connects, sends nothing: the handshake times out server-side
            assert conn.sock is not None
            assert conn.sock.recv(1) == b""
        finally:
            conn.close()
