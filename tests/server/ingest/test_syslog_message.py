"""RFC 5424 and RFC 3164 parsing, the record kept and the search fields."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.server.ingest.syslog_convert import search_fields
from auditlog_tlog.server.ingest.syslog_message import (
    SyslogMessage,
    _structured_data,
    _structured_data_escaped,
    parse_syslog,
)
from auditlog_tlog.tree.errors import MalformedError


def test_rfc5424_example_with_structured_data() -> None:
    # RFC 5424 section 6.5, example 3 (with an escaped quote and bracket added).
    raw = (b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
           b'[exampleSDID@32473 iut="3" eventSource="App\\"li\\]cation" eventID="1011"]'
           b'[x@1 actor="alice" outcome="success"] \xef\xbb\xbfAn application event')
    m = parse_syslog(raw, 2026)
    assert (m.format, m.facility, m.severity) == ("rfc5424", 20, 5)
    assert (m.hostname, m.app_name, m.procid, m.msgid) == (
        "mymachine.example.com", "evntslog", None, "ID47")
    assert m.structured_data[0] == ("exampleSDID@32473", (
        ("iut", "3"), ("eventSource", 'App"li]cation'), ("eventID", "1011")))
    assert m.msg == "An application event"
    assert m.time == "2003-10-11T22:14:15.003Z"
    assert (m.param("actor", "user"), m.param("outcome"), m.param("nope")) == ("alice", "success", None)
    record = m.record()
    assert record["raw"] == raw.decode()
    assert record["structured_data"][1] == {"id": "x@1", "params": [["actor", "alice"],
                                                                    ["outcome", "success"]]}


def test_rfc5424_offsets_become_utc_and_nil_values_are_absent() -> None:
    m = parse_syslog(b"<34>1 2026-11-30T03:00:00.5+02:00 - - - - -", 2026)
    assert m.time == "2026-11-30T01:00:00.5Z"
    assert (m.hostname, m.app_name, m.msg, m.structured_data) == (None, None, "", ())
    assert "hostname" not in m.record()


def test_rfc3164_as_nginx_and_rsyslog_send_it() -> None:
    m = parse_syslog(b'<190>Nov  3 01:41:04 web1 nginx: 127.0.0.1 - - "GET / HTTP/1.1" 200', 2026)
    assert (m.format, m.facility, m.severity) == ("rfc3164", 23, 6)
    assert (m.timestamp, m.time) == ("Nov  3 01:41:04", "2026-11-03T01:41:04Z")
    assert (m.hostname, m.app_name, m.procid) == ("web1", "nginx", None)
    assert m.msg == '127.0.0.1 - - "GET / HTTP/1.1" 200'


def test_rfc3164_with_pid_and_an_rfc3339_stamp() -> None:
    m = parse_syslog(b"<86>2026-11-30T01:02:03.123456+00:00 host sshd[42]: Accepted key", 2026)
    assert (m.time, m.hostname, m.app_name, m.procid, m.msg) == (
        "2026-11-30T01:02:03.123456Z", "host", "sshd", "42", "Accepted key")


def test_the_lf_rsyslog_ends_its_frames_with_is_not_part_of_msg() -> None:
    m = parse_syslog(b"<14>1 2026-11-30T01:00:00+00:00 vm app 7 - -  text\n", 2026)
    assert (m.msg, m.raw.endswith(b"\n")) == (" text", True)


def test_rfc3164_without_a_header_keeps_everything_as_msg() -> None:
    m = parse_syslog(b"<13>just some text", 2026)
    assert (m.time, m.hostname, m.app_name, m.msg) == (None, None, None, "just some text")


def test_bytes_that_are_not_utf8_are_kept_as_base64() -> None:
    record = parse_syslog(b"<13>caf\xe9", 2026).record()
    assert record["raw_base64"] == "PDEzPmNhZuk="
    assert "raw" not in record


@pytest.mark.parametrize(("raw", "said"), [
    (b"no pri", "want <PRI>"),
    (b"<192>x", "PRI 0..191"),
    (b"<013>x", "want <PRI>"),
    (b"<13>1 2026-11-30T01:00:00Z host app", "want 6"),
    (b"<13>1 2026-11-30 host app - - -", "TIMESTAMP"),
    (b"<13>1 2026-13-30T01:00:00Z host app - - -", "want RFC 3339"),
    (b"<13>1 - host app - " + b"m" * 33 + b" -", "MSGID"),
    (b"<13>1 - host app - - [id a=b]", "name=\"value\""),
    (b'<13>1 - host app - - [id a="b"', "not closed"),
    (b'<13>1 - host app - - [id a="b', "no closing"),
    (b'<13>1 - host app - - [id a="b"]x', "want SP MSG"),
    (b"<13>1 - host app - - [", "SD-ID"),
    (b"<13>1 - host app - - x", "want '-' or"),
])
def test_malformed_messages_say_what_is_wrong(raw: bytes, said: str) -> None:
    with pytest.raises(MalformedError, match=said):
        parse_syslog(raw, 2026)


names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                              exclude_characters='="] '), min_size=1, max_size=32)
values = st.text(max_size=20).filter(lambda v: "\x00" not in v)


@given(st.integers(0, 191), names.filter(lambda h: h != "-"),  # "-" is RFC 5424's NILVALUE
       st.lists(st.tuples(names, st.lists(
    st.tuples(names, values), max_size=3)), max_size=3), st.text(max_size=50))
def test_formatted_rfc5424_parses_back(pri: int, host: str,
                                       sd: list[tuple[str, list[tuple[str, str]]]],
                                       msg: str) -> None:
    def escape(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")

    sd_text = "".join(f"[{i}" + "".join(f' {n}="{escape(v)}"' for n, v in ps) + "]"
                      for i, ps in sd) or "-"
    raw = f"<{pri}>1 2026-11-30T01:02:03Z {host} app 1 - {sd_text} {msg}".encode()
    m = parse_syslog(raw, 2026)
    assert (m.facility * 8 + m.severity, m.hostname) == (pri, host)
    assert m.structured_data == tuple((i, tuple(ps)) for i, ps in sd)
    assert m.msg == msg.removeprefix("\ufeff").removesuffix("\n")


sd_texts = st.one_of(
    st.text(alphabet='[]" \\=ab@1é', max_size=40),
    st.lists(st.tuples(st.text(alphabet="ab@[\\", min_size=1, max_size=34),
                       st.lists(st.tuples(st.text(alphabet="ab=[", max_size=33),
                                          st.text(alphabet='ab ]["\\', max_size=6)), max_size=3)),
             min_size=1, max_size=3).map(
        lambda elements: "".join(f"[{i}" + "".join(f' {n}="{v}"' for n, v in ps) + "]"
                                 for i, ps in elements)),
).flatmap(lambda sd: st.sampled_from([sd, sd + " msg", sd + "x", sd + "  m"]))


def _outcome(parse: object, text: str) -> object:
    try:
        return parse(text)  # type: ignore[operator]
    except MalformedError as exc:
        return str(exc)


@settings(max_examples=500)
@given(sd_texts)
def test_plain_structured_data_reads_as_the_escaping_reader_does(text: str) -> None:
    assert _outcome(_structured_data, text) == _outcome(_structured_data_escaped, text)


def _search_fields_reference(m: SyslogMessage) -> tuple[str | None, ...]:
    """docs/ingestion-syslog.md "Search fields", read one field at a time."""
    def param(*wanted: str) -> str | None:
        return next((v for _, ps in m.structured_data for n, v in ps if n in wanted), None)

    sender = "@".join(p for p in (m.app_name, m.hostname) if p) or None
    return (param("actor", "user") or sender, param("action") or m.msgid or m.app_name,
            param("resource"), param("outcome"), m.time)


field_names = st.sampled_from(["actor", "user", "action", "resource", "outcome", "ip"])


@settings(max_examples=300)
@given(st.lists(st.tuples(names, st.lists(st.tuples(field_names, st.sampled_from(["", "v", "w"])),
                                          max_size=4)), max_size=3),
       st.sampled_from(["-", "app"]), st.sampled_from(["-", "h"]), st.sampled_from(["-", "ID"]),
       st.sampled_from([b"", b"\xff"]))
def test_search_fields_and_the_record_read_in_one_pass(
        sd: list[tuple[str, list[tuple[str, str]]]], app: str, host: str, msgid: str,
        tail: bytes) -> None:
    sd_text = "".join(f"[{i}" + "".join(f' {n}="{v}"' for n, v in ps) + "]"
                      for i, ps in sd) or "-"
    m = parse_syslog(f"<13>1 2026-11-30T01:02:03Z {host} {app} - {msgid} {sd_text} x".encode()
                     + tail, 2026)
    assert search_fields(m) == _search_fields_reference(m)
    record = m.record()  # its keys inserted sorted: dumped without sorting, the same bytes
    assert orjson.dumps(record) == orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
