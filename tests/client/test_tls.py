"""The SDK and the command line over TLS with a bearer token, against a server with principals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlog_tlog.client.cli import main
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.server.security import hash_token
from auditlog_tlog.tree.errors import PermissionDeniedError, UnauthenticatedError
from tests.server.certs import CA
from tests.servers import RunningServer, running, write_server_config

ORIGIN = "tls.example/log"
CA_ = CA()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("tls")
    (directory / "ca.pem").write_bytes(CA_.pem)
    CA_.issue("server", server=True).write(directory, "server")
    principals = (
        f'[[principal]]\nname = "svc"\ntoken_sha256 = "{hash_token("svc-token")}"\n'
        f'roles = {{ "{ORIGIN}" = ["append", "read"] }}\n\n'
        f'[[principal]]\nname = "ro"\ntoken_sha256 = "{hash_token("ro-token")}"\n'
        f'roles = {{ "{ORIGIN}" = ["read"] }}\n')
    config = write_server_config(
        directory, (ORIGIN,),
        extra_server='[server.tls]\ncert_file = "server.pem"\nkey_file = "server.key"\n')
    with config.open("a") as f:
        f.write(principals)
    yield from running(config)


def test_sdk_over_tls_with_a_token(server: RunningServer) -> None:
    tls = (CA_.pem, None, None)
    with LogClient(server.address, ORIGIN, tls=tls, token="svc-token", timeout=10) as client:
        result = client.append(b"tls: hello", receipt=True)
        assert result.receipt and list(client.append_stream([b"tls: streamed"]))
        assert [e for _, e in client.entries(result.index, result.index + 1)] == [b"tls: hello"]
    with LogClient(server.address, ORIGIN, tls=tls, token="ro-token", timeout=10) as client:
        assert client.checkpoint().size >= 1
        with pytest.raises(PermissionDeniedError):
            client.append(b"tls: not allowed")
    with LogClient(server.address, ORIGIN, tls=tls, timeout=10) as client, \
            pytest.raises(UnauthenticatedError):
        client.checkpoint()


def test_cli_over_tls(server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDITLOG_CONFIG", raising=False)
    (tmp_path / "ca.pem").write_bytes(CA_.pem)
    (tmp_path / "token").write_text("svc-token\n")
    common = ["--server", server.address, "--log", ORIGIN, "--ca-file", "ca.pem",
              "--state-dir", "state"]
    assert main(["append", *common, "--token-file", "token", "tls: cli"]) == 0
    capsys.readouterr()
    with LogClient(server.address, ORIGIN, tls=(CA_.pem, None, None), token="svc-token") as client:
        common += ["--log-key", client.log_info().verifier_key]  # entries are checked with it
    assert main(["entries", *common, "--begin", "0", "--end", "1"]) == 1
    err = capsys.readouterr().err
    assert "--token-file" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("AUDITLOG_TOKEN", "ro-token")
    assert main(["entries", *common, "--begin", "0", "--end", "1"]) == 0
