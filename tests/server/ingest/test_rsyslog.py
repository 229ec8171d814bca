"""Real producers: rsyslog (omfwd over TLS with a client certificate, omrelp) and nginx
(``access_log syslog:``), each started with its own configuration, feeding a real server.

The crash test kills the server with SIGKILL while rsyslog sends over RELP, restarts it on the
same port, and checks that every message handed to rsyslog ends up in the log exactly once:
what the server acknowledged was durable, and rsyslog sent again what it was not told of.
rsyslog runs the omrelp action of README.md ("Feed it from your pipeline") as written there
(read from it), with its disk-assisted queue in the test's own work directory.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from tests.server.certs import CA
from tests.server.ingest.producers import (
    Nginx,
    Rsyslog,
    entries,
    free_port,
    listener_port,
    server_config,
    wait_for,
)
from tests.servers import RunningServer, running, start_server

LOG = "test.example/log"
WEB = "test.example/web"
README = Path(__file__).resolve().parents[3] / "README.md"


def documented_omrelp(port: int) -> tuple[str, str]:
    """The omrelp configuration of README.md, as written there (its disk-assisted queue
    included), sending to 127.0.0.1:``port``: its module line and its action."""
    block = README.read_text().split("#### rsyslog, RELP (omrelp)")[1].split("```")[1]
    modules, selector_action = block.strip().split("\n", 1)
    documented = 'target="auditlog.example" port="2514"'
    assert selector_action.startswith("*.* action(") and documented in selector_action
    action = selector_action.removeprefix("*.* ").replace(
        documented, f'target="127.0.0.1" port="{port}"')
    for setting in ('queue.type="LinkedList"', 'queue.filename="auditlog"',
                    'queue.saveOnShutdown="on"', 'action.resumeRetryCount="-1"'):
        assert setting in action, f"the documented omrelp action lost {setting}"
    return modules, action


def write_config(directory: Path, listeners: str, extra: str = "") -> Path:
    return server_config(directory, f"""{extra}
[[log]]
origin = "{LOG}"
public_read = true
[[log]]
origin = "{WEB}"
{listeners}
""")


def log_size(server: RunningServer, log: str = LOG) -> int:
    return int(server.stub().GetLogInfo(pb.GetLogInfoRequest(log=log)).size)


def sent_messages(server: RunningServer, log: str = LOG) -> list[str]:
    """The MSG of every entry, without the LF rsyslog's RFC 5424 template leaves at the end."""
    return [e["record"]["msg"].strip() for e in entries(server, log)]


@pytest.fixture
def tls_setup(tmp_path: Path) -> Iterator[tuple[RunningServer, Path]]:
    ca = CA()
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    ca.issue("localhost", server=True).write(tmp_path, "server")
    ca.issue("rsyslog.test").write(tmp_path, "client")
    config = write_config(tmp_path, f"""
[[ingest.syslog]]
listen = "127.0.0.1:0"
transport = "tls"
log = "{LOG}"
[ingest.syslog.tls]
cert_file = "server.pem"
key_file = "server.key"
client_ca_file = "ca.pem"
""", extra=f"""
[[principal]]
name = "rsyslog"
cert_names = ["rsyslog.test"]
roles = {{ "{LOG}" = ["append"] }}
""")
    for server in running(config):
        yield server, tmp_path


def test_rsyslog_forwards_over_tls_with_a_client_certificate(
        tls_setup: tuple[RunningServer, Path]) -> None:
    server, directory = tls_setup
    port = listener_port(server, "syslog-tls")
    tls = (f'DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="{directory / "ca.pem"}" '
           f'DefaultNetstreamDriverCertFile="{directory / "client.pem"}" '
           f'DefaultNetstreamDriverKeyFile="{directory / "client.key"}"')
    action = (f'action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" '
              'StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" '
              'StreamDriverPermittedPeers="localhost" TCP_Framing="octet-counted" '
              'template="RSYSLOG_SyslogProtocol23Format")')
    rsyslog = Rsyslog(directory / "rsyslog", action, tls=tls)
    try:
        sent = [f"tls message {i}" for i in range(200)]
        rsyslog.send([f"<86>Nov 30 01:00:00 sshd[7]: {m}" for m in sent])
        wait_for(lambda: len(entries(server, LOG)) >= len(sent), 30,
                 f"200 messages over TLS\n{rsyslog.log()}")
    finally:
        rsyslog.stop()
    found = entries(server, LOG)
    assert sorted(e["record"]["msg"].strip() for e in found) == sorted(sent)
    assert {e["source"]["principal"] for e in found} == {"rsyslog"}
    assert {e["source"]["transport"] for e in found} == {"syslog-tls"}
    assert {e["fields"]["action"] for e in found} == {"sshd"}
    assert {e["record"]["facility"] for e in found} == {"authpriv"}


def test_every_message_rsyslog_sends_over_relp_survives_a_server_kill(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, f"""
[[ingest.syslog]]
listen = "127.0.0.1:{port}"
transport = "relp"
log = "{LOG}"
""")
    server = start_server(config)
    modules, action = documented_omrelp(port)
    rsyslog = Rsyslog(tmp_path / "rsyslog", action, modules=modules)
    total = 3000
    sent = [f"relp message {i}" for i in range(total)]
    try:
        feeder = threading.Thread(
            target=rsyslog.send, args=([f"<14>Nov 30 01:00:00 app: {m}" for m in sent],))
        feeder.start()
        # The log's size, not its entries, is polled: reading them all at every poll let
        # rsyslog send all 3,000 before the kill on an idle machine.
        wait_for(lambda: log_size(server) >= 300, 30, f"300 entries\n{rsyslog.log()}")
        server.kill()  # mid-stream: some messages are written but not yet acknowledged
        server = start_server(config)
        at_kill = len(entries(server, LOG))
        feeder.join(30)
        wait_for(lambda: len(entries(server, LOG)) >= total, 60,
                 f"{total} entries after the restart\n{rsyslog.log()}")
        found = sent_messages(server)
    finally:
        rsyslog.stop()
        server.stop()
    # The queue of the documented action is disk-assisted in rsyslog's own work directory; a
    # run this short never reaches its high watermark and ends with it empty, so rsyslog writes
    # no queue file, but it reports a work directory it cannot use, or a queue it cannot open.
    complaints = [line for line in rsyslog.log().splitlines()
                  if "queue" in line.lower() or "workdirectory" in line.lower()]
    assert not complaints, complaints
    # Every message is there, once: acknowledged ones were durable, the rest were resent,
    # and a resent message that had been written is the same entry (the log's dedup).
    assert sorted(found) == sorted(sent)
    assert at_kill < total, "the kill came after everything was sent: it tested nothing"


def test_nginx_access_log_over_syslog(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"""
[[ingest.syslog]]
listen = "127.0.0.1:0"
transport = "udp"
udp = true
log = "{LOG}"
log_by_app = {{ "nginx" = "{WEB}" }}
""")
    server = start_server(config)
    try:
        syslog = f"server=127.0.0.1:{listener_port(server, 'syslog-udp')},tag=nginx"
        nginx = Nginx(tmp_path / "nginx", free_port(), syslog)
        try:
            for i in range(20):
                with urllib.request.urlopen(f"http://127.0.0.1:{nginx.port}/page/{i}",
                                            timeout=10) as answer:
                    assert answer.status == 200
            wait_for(lambda: len(entries(server, WEB)) >= 20, 30, f"20 access lines\n{nginx.log()}")
        finally:
            nginx.stop()
        found = entries(server, WEB)
        assert entries(server, LOG) == []
    finally:
        server.stop()
    pages = sorted(int(e["record"]["msg"].split("/page/")[1].split()[0]) for e in found)
    assert pages == list(range(20))
    assert {e["record"]["app_name"] for e in found} == {"nginx"}
    assert {e["source"]["transport"] for e in found} == {"syslog-udp"}
    assert all(e["fields"]["time"] for e in found)
