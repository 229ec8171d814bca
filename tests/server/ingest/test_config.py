"""``[ingest]``: routes, listeners and limits are checked when the config is read."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from auditlog_tlog.server.app import LogServer
from auditlog_tlog.server.config import parse_config
from auditlog_tlog.server.ingest.config import Route
from auditlog_tlog.tree.errors import NotFoundError

BASE = '[server]\nlisten = "127.0.0.1:0"\n[[log]]\norigin = "a.example/a"\n[[log]]\norigin = "a.example/b"\n'


def test_a_full_ingest_section_parses() -> None:
    config = parse_config(BASE + """
[ingest]
http_listen = "127.0.0.1:4318"
max_request_bytes = 2048
[ingest.otlp]
log = "a.example/a"
log_attribute = "auditlog.log"
log_by_principal = { payments = "a.example/b" }
[ingest.kubernetes]
path = "/audit"
log = "a.example/b"
""", Path("/etc/auditlog"))
    ingest = config.ingest
    assert ingest.http_listen == "127.0.0.1:4318" and ingest.max_request_bytes == 2048
    assert ingest.otlp is not None and ingest.otlp.route.by_principal == {"payments": "a.example/b"}
    assert ingest.kubernetes is not None and ingest.kubernetes.path == "/audit"


def test_no_ingest_section_turns_everything_off() -> None:
    ingest = parse_config(BASE, Path("/")).ingest
    assert (ingest.http_listen, ingest.otlp, ingest.kubernetes) == ("", None, None)


@pytest.mark.parametrize(("section", "says"), [
    ('[ingest]\nport = 1', "[ingest]: unknown keys ['port']"),
    ('[ingest.otlp]\nlog = "a.example/zz"', "logs ['a.example/zz'] are not configured"),
    ('[ingest.otlp]\nlog_by_principal = { p = 3 }', "want a table of principal = log origin"),
    ('[ingest.otlp]\nlog = 5', "[ingest.otlp].log: got 5, want a string"),
    ('[ingest.kubernetes]\nlog = "a.example/a"', "[ingest.kubernetes] needs [ingest] http_listen"),
    ('[ingest]\nhttp_listen = "127.0.0.1:0"\n[ingest.kubernetes]\npath = "audit"',
     "want an absolute path"),
    ('[ingest]\nmax_request_bytes = 10', "max_request_bytes = 10, want 1024..268435456"),
    ('[ingest]\nmax_request_bytes = true', "want an integer"),
    ('[ingest.otlp]\nlog = "a.example/a"\n[ingest.otlp.grpc]\nport = 1',
     "[ingest.otlp.grpc]: unknown keys ['port']"),
    ('[ingest.otlp.grpc]\nlog = "a.example/zz"',
     "[ingest.otlp.grpc]: logs ['a.example/zz'] are not configured"),
    ('[ingest.otlp.grpc]\nlog_attribute = 1', "[ingest.otlp.grpc].log_attribute: got 1, want a string"),
    ('[ingest]\nhttp_listen = "127.0.0.1:0"\n[ingest.otlp.http]\nlog_by_principal = { p = 3 }',
     "[ingest.otlp.http].log_by_principal: want a table of principal = log origin"),
    ('[ingest.otlp]\nhttp = "a.example/a"', "[ingest.otlp.http]: got 'a.example/a', want a table"),
    ('[ingest.otlp]\nkubernetes = 1', "[ingest.otlp]: unknown keys ['kubernetes']"),
    ('[ingest.otlp.http]\nlog = "a.example/a"', "[ingest.otlp.http] needs [ingest] http_listen"),
])
def test_bad_ingest_sections_are_refused(section: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_config(BASE + section, Path("/"))
    assert says in str(caught.value)


def test_each_otlp_listener_has_the_shared_route_unless_it_has_its_own() -> None:
    shared = '[ingest.otlp]\nlog = "a.example/a"\nlog_attribute = "auditlog.log"\n'
    otlp = parse_config(BASE + shared, Path("/")).ingest.otlp
    assert otlp is not None and otlp.grpc_route == otlp.http_route == otlp.route
    assert otlp.route == Route("a.example/a", "auditlog.log")
    otlp = parse_config(BASE + '[ingest]\nhttp_listen = "127.0.0.1:0"\n' + shared
                        + '[ingest.otlp.http]\nlog = "a.example/b"\n', Path("/")).ingest.otlp
    assert otlp is not None and otlp.grpc_route == Route("a.example/a", "auditlog.log")
    assert otlp.http_route == Route("a.example/b")  # the whole route: no attribute inherited
    otlp = parse_config(BASE + '[ingest.otlp.grpc]\nlog_by_principal = { p = "a.example/b" }\n',
                        Path("/")).ingest.otlp
    assert otlp is not None and otlp.http_route == Route()
    assert otlp.grpc_route == Route(by_principal={"p": "a.example/b"})


@pytest.mark.parametrize(("section", "where"), [
    ("[ingest.otlp]\n", "[ingest.otlp] (the route of OTLP/GRPC)"),
    ('[ingest.otlp]\nlog = "a.example/a"\n[ingest.otlp.grpc]\n', "[ingest.otlp.grpc]"),
    ('[ingest.otlp]\nlog = "a.example/a"\n[ingest.otlp.grpc]\nlog_by_principal = {}\n',
     "[ingest.otlp.grpc]"),
    ('[ingest]\nhttp_listen = "127.0.0.1:0"\n[ingest.otlp.grpc]\nlog = "a.example/a"\n',
     "[ingest.otlp] (the route of OTLP/HTTP)"),
    ('[ingest]\nhttp_listen = "127.0.0.1:0"\n[ingest.kubernetes]\npath = "/audit"\n',
     "[ingest.kubernetes]"),
])
def test_a_listener_whose_route_names_no_log_is_refused(section: str, where: str) -> None:
    # It would refuse every record it is sent ("no log for this record").
    with pytest.raises(ValueError, match=re.escape(f"{where}: no log to route records to")):
        parse_config(BASE + section, Path("/"))
    with pytest.raises(NotFoundError, match="no log for this record"):
        Route().pick("p", {})


def test_a_route_prefers_the_principal_then_the_attribute_then_the_default() -> None:
    route = Route("a", "auditlog.log", {"payments": "b"})
    assert route.pick("payments", {"auditlog.log": "c"}) == "b"
    assert route.pick("other", {"auditlog.log": "c"}) == "c"
    assert route.pick(None, {}) == "a"
    with pytest.raises(NotFoundError, match=re.escape("want the resource attribute 'auditlog.log'")):
        Route(attribute="auditlog.log").pick(None, {})


def test_plain_text_ingest_off_loopback_is_refused_at_start(tmp_path: Path) -> None:
    config = parse_config(BASE + '[ingest]\nhttp_listen = "0.0.0.0:0"\n[ingest.otlp]\nlog = "a.example/a"\n',
                          tmp_path)
    with pytest.raises(ValueError, match=re.escape("refusing plain-text ingest HTTP on 0.0.0.0:0")):
        asyncio.run(LogServer(config).start())
