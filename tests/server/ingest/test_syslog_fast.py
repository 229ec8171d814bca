"""The fast reader of common RFC 5424 messages gives what the full reader gives, or steps aside."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.server.ingest.record import source_json
from auditlog_tlog.server.ingest.syslog_convert import message_entry
from auditlog_tlog.server.ingest.syslog_fast import fast_entry
from auditlog_tlog.server.ingest.syslog_message import parse_syslog
from auditlog_tlog.tree.errors import MalformedError

SOURCE = source_json("syslog-tls", "sender")


def _full(raw: bytes) -> tuple[Any, ...]:
    try:
        message = parse_syslog(raw, 2026)
    except MalformedError as exc:
        return ("refused", str(exc))
    try:
        return (message_entry(message, SOURCE), message.app_name)
    except MalformedError as exc:
        return ("entry refused", str(exc), message.app_name)


def _fast(raw: bytes) -> tuple[Any, ...] | None:
    try:
        found = fast_entry(raw, SOURCE)
    except MalformedError as exc:
        return ("refused", str(exc))
    if found is None:
        return None
    entry, app = found
    return ("entry refused", str(entry), app) if isinstance(entry, MalformedError) else found


# Each part: (text, whether the fast reader must take a message made of such parts only).
def _parts(good: list[str], other: list[str]) -> st.SearchStrategy[tuple[str, bool]]:
    return st.sampled_from([(g, True) for g in good] + [(o, False) for o in other])


PRIS = _parts(["<0>", "<13>", "<110>", "<191>"], ["<01>", "<192>", "<x>", "13>", "<1000>"])
VERSIONS = _parts(["1 "], ["2 ", "1", "1  "])
STAMPS = _parts(["-", "2026-11-30T01:02:03Z", "2026-11-30T01:02:03.456789Z",
                 "2026-11-30T01:02:03.5+05:30", "0001-01-01T00:00:00Z"],
                ["2026-02-30T01:02:03Z", "2026-11-30T01:02:03.1234567Z", "0000-01-01T00:00:00Z",
                 "0001-01-01T00:00:00+01:00", "2026-11-30T01:02:03", "2026-11-30 01:02:03Z"])
NAMES = _parts(["-", "h", "host.example", "a" * 48], ["", "h\u00e9", "a" * 256, "h\x01"])
COMMON_SDS = ["-", '[a@1 actor="alice" action="read"]', '[x][y user="u" resource=""]',
              '[e outcome="ok" actor="" user="bob"]', '[a@1 ip="]=x y"]', "[z]",
              '[a b="1" c="2" d="3" action="4"]', '[a b="1" c="2" d="3" e="4" actor="5"]',
              '[a x="[y"][b resource="]"]', '[a x="1"][b][c actor="c"]']
SDS = _parts(COMMON_SDS,
             ['[a@1 x="a\\"b"]', '[a x="1"]x', "[a", '[a x=1]', "[]", '[a x="1"] [b]', ""])
MSGS = _parts(["", " hello", " \ufeffbom", " two\nlines\n", " é ü", " "], [])


@settings(max_examples=600)
@given(PRIS, VERSIONS, STAMPS, NAMES, NAMES, NAMES, NAMES, SDS, MSGS,
       st.sampled_from([b"", b"\xff"]))
def test_the_fast_reader_gives_the_full_readers_entry_or_steps_aside(
        pri: tuple[str, bool], version: tuple[str, bool], stamp: tuple[str, bool],
        host: tuple[str, bool], app: tuple[str, bool], procid: tuple[str, bool],
        msgid: tuple[str, bool], sd: tuple[str, bool], msg: tuple[str, bool],
        tail: bytes) -> None:
    parts = (pri, version, stamp, host, app, procid, msgid, sd, msg)
    text = pri[0] + version[0] + " ".join(p[0] for p in parts[2:8]) + msg[0]
    raw = text.encode() + tail
    fast = _fast(raw)
    assert fast is None or fast == _full(raw)
    if all(ok for _, ok in parts) and not tail and len(msgid[0]) <= 32:
        assert fast is not None  # a common message: the fast reader takes it


def test_the_fast_reader_takes_common_messages_and_leaves_the_rest() -> None:
    line = b'<110>1 2026-11-30T01:02:03.456789Z h app 42 ID7 [a@1 actor="alice"] hi'
    assert _fast(line) == _full(line) and _fast(line) is not None
    assert _fast(b"<13>Nov 14 22:13:20 h app: x") is None  # RFC 3164: the full reader
    assert _fast(line.replace(b"alice", b"al\\]ice")) is None  # an escape: the full reader
    assert _fast(line + b"\xff") is None  # not UTF-8: the full reader keeps it as base64
    bad = line.replace(b"11-30", b"02-30")
    assert _fast(bad) == _full(bad) == ("refused", _full(bad)[1])  # the same refusal


@pytest.mark.parametrize("sd", COMMON_SDS)
def test_every_common_structured_data_takes_the_fast_reader_to_the_same_entry(sd: str) -> None:
    line = b"<110>1 2026-11-30T01:02:03.456789Z h app 42 ID7 %s hi" % sd.encode()
    assert _fast(line) is not None and _fast(line) == _full(line)


# Structured data generated element by element, not drawn from a list: SD-NAMEs valid or not
# (the search fields' names among them, 32 and 33 characters), PARAM-VALUEs with "]", "[", "=",
# spaces, non-ASCII, newlines, and sometimes a quote or a backslash (an escape, or malformed);
# one to three elements of up to six parameters, so both the one-element match (up to four
# parameters) and the element-by-element split are reached, and the full reader's escapes.
SD_NAMES = st.one_of(
    st.text(alphabet="abcu@.#!~", min_size=1, max_size=3),
    st.sampled_from(["actor", "user", "action", "resource", "outcome", "a" * 32, "a" * 33]),
    st.text(alphabet='ab@=] "\\é', max_size=3))
SD_VALUES = st.one_of(st.text(alphabet="ab][= é\n\t", max_size=5),
                      st.text(alphabet='ab]["\\= ', max_size=5))
SD_ELEMENTS = st.builds(
    lambda name, params: "[" + name + "".join(f' {n}="{v}"' for n, v in params) + "]",
    SD_NAMES, st.lists(st.tuples(SD_NAMES, SD_VALUES), max_size=6))


@settings(max_examples=500)
@given(st.lists(SD_ELEMENTS, min_size=1, max_size=3).map("".join),
       st.sampled_from(["", " hi", " [x]", "\n"]))
def test_generated_structured_data_gives_the_full_readers_entry_or_steps_aside(
        sd: str, msg: str) -> None:
    raw = ("<13>1 2026-11-30T01:02:03Z h app 1 m " + sd + msg).encode()
    fast = _fast(raw)
    assert fast is None or fast == _full(raw)
