"""The syslog listeners under garbage, too many connections, RELP over TLS; the documented
configuration parses."""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
import ssl
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditlog_tlog.server.config import parse_config
from tests.server.certs import CA
from tests.server.ingest.producers import entries, listener_port, server_config, wait_for
from tests.servers import RunningServer, running

LOG = "test.example/log"
DOC = Path(__file__).resolve().parents[3] / "docs" / "ingestion-syslog.md"
_COUNT = itertools.count()
OFFERS = b"relp_version=0\nrelp_software=test\ncommands=syslog"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("robust")
    ca = CA()
    (directory / "ca.pem").write_bytes(ca.pem)
    ca.issue("localhost", server=True).write(directory, "server")
    config = server_config(directory, f"""
[[log]]
origin = "{LOG}"
[[ingest.syslog]]
listen = "127.0.0.1:0"
transport = "tcp"
log = "{LOG}"
max_message_bytes = 512
[[ingest.syslog]]
listen = "127.0.0.1:0"
transport = "relp"
log = "{LOG}"
max_message_bytes = 512
max_connections = 2
[ingest.syslog.tls]
cert_file = "server.pem"
key_file = "server.key"
""")
    for running_server in running(config):
        running_server.output.append(f"ca {directory / 'ca.pem'}\n")
        yield running_server


def tls_connect(server: RunningServer) -> ssl.SSLSocket:
    ca = next(line.split(" ", 1)[1].strip() for line in server.output if line.startswith("ca "))
    context = ssl.create_default_context(cafile=ca)
    return context.wrap_socket(socket.create_connection(
        ("127.0.0.1", listener_port(server, "relp-tls")), timeout=10), server_hostname="localhost")


def relp_tls(server: RunningServer) -> ssl.SSLSocket:
    conn = tls_connect(server)
    conn.sendall(b"1 open %d %s\n" % (len(OFFERS), OFFERS))
    assert conn.recv(4096).startswith(b"1 rsp ")
    return conn


def test_relp_over_tls_acknowledges_once_stored(server: RunningServer) -> None:
    message = b"<13>1 - h app - - - over relp-tls"
    with relp_tls(server) as conn:
        conn.sendall(b"2 syslog %d %s\n" % (len(message), message))
        assert conn.recv(4096) == b"2 rsp 6 200 OK\n"
    found = [e for e in entries(server, LOG) if e["record"]["msg"] == "over relp-tls"]
    assert [e["source"]["transport"] for e in found] == ["relp-tls"]


def test_connections_beyond_the_bound_are_closed_and_counted(server: RunningServer) -> None:
    first, second = relp_tls(server), relp_tls(server)
    try:
        # The bound counts connections past the TLS handshake; the server ends the third one
        # (an EOF, with or without close_notify).
        with tls_connect(server) as third, contextlib.suppress(ssl.SSLEOFError):
            assert third.recv(10) == b""
    finally:
        first.close()
        second.close()
    metrics = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    assert 'auditlog_ingest_rejected_total{reason="pushback",transport="relp-tls"}' in metrics
    wait_for(lambda: _relp_works(server), 10, "the listener to take connections again")


def _relp_works(server: RunningServer) -> bool:
    try:
        relp_tls(server).close()
        return True
    except (AssertionError, OSError):
        return False


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000).filter(lambda b: b"<" not in b))
def test_garbage_never_stores_anything_and_never_stops_the_listener(
        server: RunningServer, garbage: bytes) -> None:
    size = len(entries(server, LOG))
    with socket.create_connection(("127.0.0.1", listener_port(server, "syslog-tcp")),
                                  timeout=10) as conn:
        conn.sendall(garbage)
    alive = f"still alive {next(_COUNT)}"
    with socket.create_connection(("127.0.0.1", listener_port(server, "syslog-tcp")),
                                  timeout=10) as conn:
        conn.sendall(b"<13>1 - h app - - - %s\n" % alive.encode())
    wait_for(lambda: len(entries(server, LOG)) > size, 10, alive)
    assert [e["record"]["msg"] for e in entries(server, LOG)[size:]] == [alive]


def test_the_documented_configuration_parses() -> None:
    block = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S)[0]
    origins = set(re.findall(r'"(auditlog\.example/\w+)"', block))
    logs = "".join(f'\n[[log]]\norigin = "{origin}"\n' for origin in sorted(origins))
    config = parse_config(block + logs, Path("/etc/auditlog"))
    (listener,) = config.ingest.syslog
    assert (listener.name, listener.route("web", None), listener.route(None, "nginx"),
            listener.route(None, "other")) == (
        "relp-tls", "auditlog.example/web", "auditlog.example/web", "auditlog.example/syslog")
    # One route for all of a sender's messages where the APP-NAME cannot change it.
    assert (listener.fixed_route("web"), listener.fixed_route(None),
            replace(listener, log_by_app={}).fixed_route(None)) == (
        "auditlog.example/web", None, "auditlog.example/syslog")
    assert listener.tls is not None and listener.tls.client_ca_file == Path("/etc/auditlog/tls/ca.pem")
