"""The syslog and RELP listeners of a real ``auditlog serve``, driven by hand-written frames:
every framing and transport, acknowledgement only once durable, redelivery, refusals."""

from __future__ import annotations

import socket
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlog_tlog.server.ingest.syslog_config import parse_syslog_listeners
from tests.server.certs import CA
from tests.server.ingest.producers import entries, listener_port, server_config, wait_for
from tests.servers import RunningServer, running

LOG = "test.example/log"
NODEDUP = "test.example/nodedup"
OPEN_OFFERS = b"relp_version=0\nrelp_software=test\ncommands=syslog"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("syslog")
    config = server_config(directory, f"""

[[log]]
origin = "{LOG}"
[[log]]
origin = "{NODEDUP}"
dedup = false

[[ingest.syslog]]
listen = "127.0.0.1:0"
transport = "tcp"
log = "{LOG}"
max_message_bytes = 1000
[[ingest.syslog]]
listen = "127.0.0.1:0"
transport = "relp"
log = "{LOG}"
log_by_app = {{ "nodedup" = "{NODEDUP}" }}
max_message_bytes = 1000
[[ingest.syslog]]
listen = "127.0.0.1:0"
transport = "udp"
udp = true
log = "{LOG}"
""")
    yield from running(config)


def messages(server: RunningServer, log: str = LOG) -> list[str]:
    return [e["record"]["msg"] for e in entries(server, log)]


def relp_open(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(b"1 open %d %s\n" % (len(OPEN_OFFERS), OPEN_OFFERS))
    assert read_frame(conn).startswith(b"1 rsp ")
    return conn


def read_frame(conn: socket.socket) -> bytes:
    """One RELP frame (header, DATALEN bytes, LF)."""
    head = b""
    while head.count(b" ") < 3 and not (head.count(b" ") == 2 and head.endswith(b"\n")):
        chunk = conn.recv(1)
        if not chunk:
            return head
        head += chunk
    if head.endswith(b"\n"):
        return head
    size = int(head.split(b" ")[2])
    body = b""
    while len(body) < size + 1:
        body += conn.recv(size + 1 - len(body))
    return head + body


def syslog_frame(txnr: int, message: bytes) -> bytes:
    return b"%d syslog %d %s\n" % (txnr, len(message), message)


def test_tcp_takes_both_framings_and_both_formats(server: RunningServer) -> None:
    port = listener_port(server, "syslog-tcp")
    five = b"<165>1 2026-11-30T01:00:00Z host app - ID1 [x@1 actor=\"bob\"] tcp counted"
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"<13>Nov 30 01:00:00 host app[1]: tcp lf\r\n%d %s" % (len(five), five))
    wait_for(lambda: {"tcp lf", "tcp counted"} <= set(messages(server)), 10, "two tcp messages")
    entry = next(e for e in entries(server, LOG) if e["record"]["msg"] == "tcp counted")
    assert entry["source"] == {"transport": "syslog-tcp", "principal": None}
    assert entry["fields"]["actor"] == "bob" and entry["fields"]["action"] == "ID1"
    assert entry["record"]["raw"] == five.decode()


def test_relp_acknowledges_only_what_is_durable(server: RunningServer) -> None:
    conn = relp_open(listener_port(server, "relp"))
    conn.sendall(syslog_frame(2, b"<13>1 - h app - - - relp one")
                 + syslog_frame(3, b"<13>1 - h app - - - relp two"))
    assert read_frame(conn) == b"2 rsp 6 200 OK\n"
    assert read_frame(conn) == b"3 rsp 6 200 OK\n"
    # Acknowledged means stored: both are readable the moment the answer arrives.
    assert {"relp one", "relp two"} <= set(messages(server))
    conn.sendall(b"4 close 0\n")
    assert read_frame(conn) == b"4 rsp 0\n"
    assert conn.recv(10) == b""
    conn.close()


def test_relp_redelivery_of_a_txnr_in_a_session_is_not_a_second_entry(server: RunningServer) -> None:
    before = len(entries(server, NODEDUP))
    conn = relp_open(listener_port(server, "relp"))
    frame = syslog_frame(2, b"<13>Nov 30 01:00:00 h nodedup: once")
    conn.sendall(frame)
    assert read_frame(conn) == b"2 rsp 6 200 OK\n"
    conn.sendall(frame)  # the log has dedup off: only the session can tell
    assert read_frame(conn) == b"2 rsp 6 200 OK\n"
    conn.close()
    assert messages(server, NODEDUP)[before:] == ["once"]


def test_relp_refuses_a_malformed_message_and_keeps_the_session(server: RunningServer) -> None:
    conn = relp_open(listener_port(server, "relp"))
    conn.sendall(syslog_frame(2, b"no pri here") + syslog_frame(3, b"<13>after the bad one"))
    bad = read_frame(conn)
    assert bad.startswith(b"2 rsp ") and b" 500 " in bad and b"want <PRI>" in bad
    assert read_frame(conn) == b"3 rsp 6 200 OK\n"
    conn.close()
    assert "after the bad one" in messages(server)
    assert "no pri here" not in str(entries(server, LOG))


@pytest.mark.parametrize("stream", [
    syslog_frame(1, b"<13>x"),  # before open
    b"1 open 5 hello\n",  # no syslog in the offers
    b"1 syslog 99999 x",  # DATALEN over the listener's bound
])
def test_relp_protocol_errors_end_the_session(server: RunningServer, stream: bytes) -> None:
    size = len(entries(server, LOG))
    with socket.create_connection(("127.0.0.1", listener_port(server, "relp")), timeout=10) as c:
        c.sendall(stream)
        answer = b""
        while chunk := c.recv(4096):
            answer += chunk
    assert b" 500 " in answer or answer == b"0 serverclose 0\n"
    assert len(entries(server, LOG)) == size


def test_a_bad_tcp_frame_ends_the_connection_and_is_counted(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", listener_port(server, "syslog-tcp")),
                                  timeout=10) as conn:
        conn.sendall(b"5000 " + b"x" * 10)
        assert conn.recv(10) == b""
    metrics = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    assert 'auditlog_ingest_rejected_total{reason="malformed",transport="syslog-tcp"}' in metrics


def test_udp_takes_one_message_per_datagram(server: RunningServer) -> None:
    port = listener_port(server, "syslog-udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"<13>Nov 30 01:00:00 h app: udp one\n", ("127.0.0.1", port))
    wait_for(lambda: "udp one" in messages(server), 10, "the datagram")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    directory: Path = tmp_path_factory.mktemp("syslog-tls")
    ca = CA()
    (directory / "ca.pem").write_bytes(ca.pem)
    ca.issue("localhost", server=True).write(directory, "server")
    ca.issue("sender.test").write(directory, "sender")
    ca.issue("reader.test").write(directory, "reader")
    config = server_config(directory, f"""

[[principal]]
name = "sender"
cert_names = ["sender.test"]
roles = {{ "{LOG}" = ["append"] }}
[[principal]]
name = "reader"
cert_names = ["reader.test"]
roles = {{ "{LOG}" = ["read"] }}

[[log]]
origin = "{LOG}"
public_read = true

[[ingest.syslog]]
listen = "127.0.0.1:0"
transport = "tls"
log = "{LOG}"
[ingest.syslog.tls]
cert_file = "server.pem"
key_file = "server.key"
client_ca_file = "ca.pem"
""")
    for server in running(config):
        yield server, directory


def tls_connect(directory: Path, port: int, client: str | None) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=directory / "ca.pem")
    if client:
        context.load_cert_chain(directory / f"{client}.pem", directory / f"{client}.key")
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                               server_hostname="localhost")


def test_tls_names_the_principal_from_the_client_certificate(
        tls_server: tuple[RunningServer, Path]) -> None:
    server, directory = tls_server
    with tls_connect(directory, listener_port(server, "syslog-tls"), "sender") as conn:
        conn.sendall(b"22 <13>1 - h a - - - mtls")
    wait_for(lambda: "mtls" in messages(server), 10, "the TLS message")
    entry = next(e for e in entries(server, LOG) if e["record"]["msg"] == "mtls")
    assert entry["source"] == {"transport": "syslog-tls", "principal": "sender"}


def test_tls_refuses_a_principal_without_the_append_role(
        tls_server: tuple[RunningServer, Path]) -> None:
    server, directory = tls_server
    with tls_connect(directory, listener_port(server, "syslog-tls"), "reader") as conn:
        conn.sendall(b"<13>1 - h a - - - not allowed\n")
        assert conn.recv(10) == b""  # refused: the connection is closed
    assert "not allowed" not in messages(server)
    metrics = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    assert ('auditlog_ingest_rejected_total{reason="permission_denied",transport="syslog-tls"}'
            in metrics)


def test_tls_without_a_client_certificate_is_refused(
        tls_server: tuple[RunningServer, Path]) -> None:
    server, directory = tls_server
    try:  # with TLS 1.3 the client learns of the refusal only after its handshake
        with tls_connect(directory, listener_port(server, "syslog-tls"), None) as conn:
            conn.sendall(b"<13>1 - h a - - - anonymous\n")
            assert conn.recv(10) == b""
    except (ssl.SSLError, ConnectionError) as exc:
        assert "CERTIFICATE_REQUIRED" in str(exc) or isinstance(exc, ConnectionError), exc
    assert "anonymous" not in messages(server)


@pytest.mark.parametrize(("table", "said"), [
    ({"listen": "127.0.0.1:0", "transport": "udp", "log": LOG}, "set udp = true"),
    ({"listen": "127.0.0.1:0", "transport": "tls", "log": LOG}, "needs an \\[ingest.syslog.tls\\]"),
    ({"listen": "127.0.0.1:0", "transport": "smtp", "log": LOG}, "want one of"),
    ({"listen": "127.0.0.1:0", "transport": "tcp", "log": "other"}, "not configured"),
    ({"listen": "127.0.0.1:0", "transport": "tcp", "log": LOG, "port": 1}, "unknown keys"),
    ({"listen": "nowhere", "transport": "tcp", "log": LOG}, "want host:port"),
])
def test_bad_listener_config_says_what_is_wrong(table: dict[str, object], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parse_syslog_listeners([table], Path("."), {LOG})


def test_relp_session_in_one_read_is_answered_in_order_once_durable(
        server: RunningServer) -> None:
    """open, messages (one malformed, one TXNR sent twice), close and a frame after it, all in
    one send: each frame answered in order, the 200 OKs only for what is stored, the repeated
    TXNR refused, nothing after the close taken."""
    stream = (b"1 open %d %s\n" % (len(OPEN_OFFERS), OPEN_OFFERS)
              + syslog_frame(2, b"<13>1 - h app - - - one read a")
              + syslog_frame(3, b"no pri here")
              + syslog_frame(4, b"<13>1 - h app - - - one read b")
              + syslog_frame(4, b"<13>1 - h app - - - one read b")
              + b"5 close 0\n" + syslog_frame(6, b"<13>1 - h app - - - after the close"))
    with socket.create_connection(("127.0.0.1", listener_port(server, "relp")), timeout=10) as c:
        c.sendall(stream)
        opened = read_frame(c)
        assert opened.startswith(b"1 rsp ") and b" 200 OK" in opened
        assert read_frame(c) == b"2 rsp 6 200 OK\n"
        assert "one read a" in messages(server)  # stored once answered
        refused = read_frame(c)
        assert refused.startswith(b"3 rsp ") and b" 500 " in refused
        assert read_frame(c) == b"4 rsp 6 200 OK\n"
        again = read_frame(c)  # the same TXNR before its answer: refused, not stored twice
        assert again.startswith(b"4 rsp ") and b"500 TXNR 4 is still being committed" in again
        assert "one read b" in messages(server)
        assert read_frame(c) == b"5 rsp 0\n"
        assert c.recv(10) == b""
    stored = messages(server)
    assert stored.count("one read b") == 1
    assert "after the close" not in stored and "no pri here" not in str(entries(server, LOG))
