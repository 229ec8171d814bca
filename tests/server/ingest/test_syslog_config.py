"""``[[ingest.syslog]]``: every value has its TOML type; nothing is coerced into another."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditlog_tlog.server.config import parse_config

BASE = ('[server]\nlisten = "127.0.0.1:0"\n[[log]]\norigin = "a.example/a"\n'
        '[[ingest.syslog]]\nlog = "a.example/a"\n')


def _listener(lines: str) -> str:
    return BASE + lines + "\n"


@pytest.mark.parametrize(("lines", "says"), [
    # bool("false") is True: this once served plain text off loopback.
    ('listen = "0.0.0.0:0"\ntransport = "tcp"\ninsecure = "false"',
     "[[ingest.syslog]] #1.insecure: got 'false', want bool"),
    # bool("yes") and bool(1) are True: this once turned a lossy UDP listener on.
    ('listen = "127.0.0.1:0"\ntransport = "udp"\nudp = "yes"',
     "[[ingest.syslog]] #1.udp: got 'yes', want bool"),
    ('listen = "127.0.0.1:0"\ntransport = "udp"\nudp = 1', "[[ingest.syslog]] #1.udp: got 1, want bool"),
    ('listen = "127.0.0.1:0"\ntransport = "udp"\nudp = "false"',
     "[[ingest.syslog]] #1.udp: got 'false', want bool"),
    ('listen = "127.0.0.1:0"\ntransport = "tcp"\nmax_connections = "64"',
     "[[ingest.syslog]] #1.max_connections: got '64', want int"),
    ('listen = "127.0.0.1:0"\ntransport = "tcp"\nmax_connections_per_peer = 2.5',
     "[[ingest.syslog]] #1.max_connections_per_peer: got 2.5, want int"),
    ('listen = "127.0.0.1:0"\ntransport = "tcp"\nmax_message_bytes = true',
     "[[ingest.syslog]] #1.max_message_bytes: got True, want int"),
    ('listen = 5514\ntransport = "tcp"', "[[ingest.syslog]] #1.listen: got 5514, want str"),
    ('listen = "127.0.0.1:0"\ntransport = ["tcp"]',
     "[[ingest.syslog]] #1.transport: got ['tcp'], want str"),
    ('transport = "tcp"', "[[ingest.syslog]] #1: listen address '': want host:port"),
])
def test_a_value_of_another_type_is_refused_by_name(lines: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_config(_listener(lines), Path("/"))
    assert says in str(caught.value)


def test_true_and_false_are_read_as_written() -> None:
    (plain,) = parse_config(_listener('listen = "0.0.0.0:0"\ntransport = "tcp"\ninsecure = false\n'
                                      "max_connections = 8"), Path("/")).ingest.syslog
    assert plain.insecure is False and plain.udp is False and plain.max_connections == 8
    (udp,) = parse_config(_listener('listen = "127.0.0.1:0"\ntransport = "udp"\nudp = true\n'
                                    "insecure = true"), Path("/")).ingest.syslog
    assert udp.udp is True and udp.insecure is True
    with pytest.raises(ValueError, match="set udp = true to accept that"):
        parse_config(_listener('listen = "127.0.0.1:0"\ntransport = "udp"\nudp = false'), Path("/"))


@pytest.mark.parametrize(("lines", "says"), [
    ('tls = "server.pem"', "[[ingest.syslog]] #1.tls: got 'server.pem', want a table"),
    ('[ingest.syslog.tls]\ncert_file = 5\nkey_file = "k.pem"',
     "[[ingest.syslog]] #1 [ingest.syslog.tls].cert_file: got 5, want a path string"),
    ('[ingest.syslog.tls]\ncert_file = "c.pem"\nkey_file = "k.pem"\nca_file = "ca.pem"',
     "[[ingest.syslog]] #1 [ingest.syslog.tls]: unknown keys ['ca_file']"),
    ('[ingest.syslog.tls]\ncert_file = "c.pem"',
     "[[ingest.syslog]] #1 [ingest.syslog.tls]: key_file is required"),
])
def test_a_tls_table_that_is_not_path_strings_is_refused_by_its_name(lines: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_config(_listener('listen = "0.0.0.0:0"\ntransport = "tls"\n' + lines), Path("/"))
    assert says in str(caught.value)


def test_a_tls_table_gives_paths_under_the_config_directory() -> None:
    (listener,) = parse_config(_listener('listen = "0.0.0.0:0"\ntransport = "tls"\n'
                                         '[ingest.syslog.tls]\ncert_file = "c.pem"\n'
                                         'key_file = "/k/k.pem"'), Path("/etc/a")).ingest.syslog
    assert listener.tls is not None
    assert (listener.tls.cert_file, listener.tls.key_file) == (Path("/etc/a/c.pem"), Path("/k/k.pem"))
