"""Syslog messages: RFC 5424 (section 6) and the BSD format of RFC 3164 (section 4.1).

A message that starts ``<PRI>1 `` is RFC 5424 and is parsed strictly: every header field, the
structured data with its escapes (section 6.3.3) and the timestamp (section 6.2.3, at most six
fraction digits, ``Z`` or an offset) must be exactly as the RFC draws them. Anything else with a
valid ``<PRI>`` is RFC 3164, which is a description of practice rather than a grammar; like a
relay (RFC 3164 section 4.3.2) we take ``Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`` when it is
there (or an RFC 3339 timestamp in its place, which rsyslog's forward templates emit) and keep
the rest as MSG. A missing or out-of-range PRI is a :class:`MalformedError`.

RFC 3164 timestamps carry neither year nor zone: the caller supplies the year (the receiver's,
in UTC) and the zone is taken as UTC. The original text is always kept in ``raw``, so nothing
the sender wrote is lost by this reading.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from auditlog_tlog.server.ingest.record import rfc3339_utc
from auditlog_tlog.tree.errors import MalformedError

SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
              "authpriv", "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2",
              "local3", "local4", "local5", "local6", "local7")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_PRI = re.compile(rb"<([0-9]{1,3})>")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_BSD_TIME = re.compile(r"([A-Z][a-z]{2}) ([ 0-9][0-9]) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ")
_TAG = re.compile(r"([^\s\[\]:]{1,48})(?:\[([^\]\s]{1,128})\])?: ?")
_SD_NAME = re.compile(r"[!#-<>-\\^-~]{1,32}")  # PRINTUSASCII but '=', SP, ']' and '"' (6.3.2)
# STRUCTURED-DATA without a backslash in any PARAM-VALUE (so without escapes), read by three
# regular expressions instead of character by character: what most senders write. A NAME
# cannot hold SP, '=', ']' or '"', so these match exactly what the reader below takes.
_SD_PLAIN_PARAM = r' [!#-<>-\\^-~]{1,32}="[^"\\]*"'
_SD_PLAIN = re.compile(r"(?:\[[!#-<>-\\^-~]{1,32}(?:" + _SD_PLAIN_PARAM + r")*\])+")
_SD_PLAIN_ELEMENTS = re.compile(r"\[([!#-<>-\\^-~]{1,32})((?:" + _SD_PLAIN_PARAM + r")*)\]")
_SD_PLAIN_PARAMS = re.compile(r' ([!#-<>-\\^-~]{1,32})="([^"\\]*)"')

# RFC 5424 header fields: (name, the longest the RFC allows), each 1*PRINTUSASCII (6.2).
_HEADER = (("hostname", 255), ("app_name", 48), ("procid", 128), ("msgid", 32))
_HEADER_FIELDS = re.compile(" ".join(f"[!-~]{{1,{limit}}}" for _, limit in _HEADER))


@dataclass(frozen=True, slots=True)
class SyslogMessage:
    """One parsed syslog message; ``raw`` is every byte the sender sent in the frame."""

    format: str  # "rfc5424" or "rfc3164"
    facility: int
    severity: int
    timestamp: str | None  # as sent
    time: str | None  # RFC 3339 UTC, the event time for search
    hostname: str | None
    app_name: str | None
    procid: str | None
    msgid: str | None
    structured_data: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    msg: str  # without the LF some senders end an octet-counted frame with (raw keeps it)
    raw: bytes

    def record(self) -> dict[str, Any]:
        """The message as JSON-able values: the raw frame and its parsed reading, absent
        fields left out. The keys are inserted in sorted order (those of every dict in it
        too), so ``orjson`` writes the record as with ``OPT_SORT_KEYS`` without sorting."""
        out: dict[str, Any] = {}
        if self.app_name is not None:
            out["app_name"] = self.app_name
        out["facility"] = FACILITIES[self.facility]
        out["format"] = self.format
        if self.hostname is not None:
            out["hostname"] = self.hostname
        out["msg"] = self.msg
        if self.msgid is not None:
            out["msgid"] = self.msgid
        if self.procid is not None:
            out["procid"] = self.procid
        try:
            out["raw"] = self.raw.decode("utf-8")
        except UnicodeDecodeError:
            out["raw_base64"] = base64.b64encode(self.raw).decode("ascii")
        out["severity"] = SEVERITIES[self.severity]
        if self.structured_data:
            out["structured_data"] = [
                {"id": sd_id, "params": [list(p) for p in params]}
                for sd_id, params in self.structured_data
            ]
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        return out

    def param(self, *names: str) -> str | None:
        """The first structured-data parameter with one of ``names``, in any element."""
        for _, params in self.structured_data:
            for name, value in params:
                if name in names:
                    return value
        return None


def parse_syslog(raw: bytes, year: int) -> SyslogMessage:
    """Parse one frame; ``year`` completes RFC 3164 timestamps (the receiver's UTC year)."""
    pri = _PRI.match(raw)
    if pri is None or int(pri[1]) > 191 or (len(pri[1]) > 1 and pri[1].startswith(b"0")):
        raise MalformedError(
            f"syslog message starts with {raw[:8]!r}, want <PRI> with PRI 0..191 (RFC 5424 6.2.1)"
        )
    facility, severity = divmod(int(pri[1]), 8)
    rest = raw[pri.end():]
    text = rest.decode("utf-8", errors="replace")
    if rest.startswith(b"1 "):
        return _rfc5424(facility, severity, text[2:], raw)
    return _rfc3164(facility, severity, text, raw, year)


def _rfc5424(facility: int, severity: int, text: str, raw: bytes) -> SyslogMessage:
    parts = text.split(" ", 5)
    if len(parts) < 6:
        raise MalformedError(
            f"RFC 5424 header has {len(parts)} fields after VERSION, want 6: TIMESTAMP HOSTNAME "
            "APP-NAME PROCID MSGID STRUCTURED-DATA"
        )
    stamp, hostname, app_name, procid, msgid, rest = parts
    # One regular expression checks the four fields; the loop says which one is wrong.
    if not _HEADER_FIELDS.fullmatch(text, len(stamp) + 1, len(text) - len(rest) - 1):
        for (name, limit), value in zip(_HEADER, parts[1:5], strict=True):
            if not value or len(value) > limit or not value.isascii() or not value.isprintable():
                raise MalformedError(
                    f"RFC 5424 {name.upper()} {value[:40]!r}, want NILVALUE or 1 to {limit} "
                    "printable ASCII characters"
                )
    timestamp = None if stamp == "-" else stamp
    sd, msg = _structured_data(rest)
    return SyslogMessage(
        "rfc5424", facility, severity, timestamp,
        None if timestamp is None else _rfc3339_utc(timestamp),
        None if hostname == "-" else hostname, None if app_name == "-" else app_name,
        None if procid == "-" else procid, None if msgid == "-" else msgid,
        sd, msg.removeprefix("\ufeff").removesuffix("\n"), raw,
    )


def _rfc3339_utc(stamp: str) -> str:
    if not _RFC3339.fullmatch(stamp):
        raise MalformedError(
            f"RFC 5424 TIMESTAMP {stamp[:40]!r}, want RFC 3339 like 2003-10-11T22:14:15.003Z"
        )
    return rfc3339_utc(stamp)  # every source writes search times the same way


def _utc(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _structured_data(text: str) -> tuple[tuple[tuple[str, tuple[tuple[str, str], ...]], ...], str]:
    """STRUCTURED-DATA [SP MSG] (RFC 5424 6.3) as (elements, MSG)."""
    if text == "-" or text.startswith("- "):
        return (), text[2:]
    plain = _SD_PLAIN.match(text)
    if plain is not None and text[plain.end():plain.end() + 1] in ("", " "):
        end = plain.end()
        return tuple((sd_id, tuple(_SD_PLAIN_PARAMS.findall(params)))
                     for sd_id, params in _SD_PLAIN_ELEMENTS.findall(text, 0, end)), text[end + 1:]
    return _structured_data_escaped(text)


def _structured_data_escaped(
    text: str,
) -> tuple[tuple[tuple[str, tuple[tuple[str, str], ...]], ...], str]:
    """:func:`_structured_data` character by character: escapes, and what is malformed."""
    elements: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    i = 0
    while i < len(text) and text[i] == "[":
        sd_id, i = _sd_name(text, i + 1, "SD-ID")
        params: list[tuple[str, str]] = []
        while i < len(text) and text[i] == " ":
            name, i = _sd_name(text, i + 1, "PARAM-NAME")
            if text[i:i + 2] != '="':
                raise MalformedError(f"SD-PARAM {name!r} is not followed by =\", want name=\"value\"")
            value, i = _sd_value(text, i + 2)
            params.append((name, value))
        if text[i:i + 1] != "]":
            raise MalformedError(f"SD-ELEMENT {sd_id!r} is not closed by ']' at offset {i}")
        elements.append((sd_id, tuple(params)))
        i += 1
    if not elements:
        raise MalformedError(f"STRUCTURED-DATA {text[:40]!r}, want '-' or [SD-ID ...]")
    if i < len(text) and text[i] != " ":
        raise MalformedError(f"STRUCTURED-DATA is followed by {text[i]!r}, want SP MSG or the end")
    return tuple(elements), text[i + 1:]


def _sd_name(text: str, i: int, what: str) -> tuple[str, int]:
    match = _SD_NAME.match(text, i)
    if match is None:
        raise MalformedError(f"{what} at offset {i} is empty, want 1 to 32 printable ASCII")
    return match[0], match.end()


def _sd_value(text: str, i: int) -> tuple[str, int]:
    """PARAM-VALUE up to the closing quote; \\" \\\\ and \\] are escapes (RFC 5424 6.3.3), any
    other backslash is an ordinary character."""
    out: list[str] = []
    while True:
        quote = text.find('"', i)
        if quote < 0:
            raise MalformedError("PARAM-VALUE has no closing '\"'")
        slash = text.find("\\", i, quote)
        if slash < 0:
            out.append(text[i:quote])
            return "".join(out), quote + 1
        out.append(text[i:slash])
        escaped = text[slash + 1:slash + 2]
        if escaped in ('"', "\\", "]"):
            out.append(escaped)
            i = slash + 2
        else:
            out.append("\\")
            i = slash + 1


def _rfc3164(facility: int, severity: int, text: str, raw: bytes, year: int) -> SyslogMessage:
    timestamp = time = hostname = app_name = procid = None
    rest = text
    bsd = _BSD_TIME.match(text)
    iso = _RFC3339.match(text)
    if bsd is not None and bsd[1] in MONTHS:
        try:
            when = datetime(year, MONTHS.index(bsd[1]) + 1, int(bsd[2]), int(bsd[3]),
                            int(bsd[4]), int(bsd[5]), tzinfo=UTC)
        except ValueError:
            when = None
        if when is not None:
            timestamp, time, rest = bsd[0][:-1], _utc(when), text[bsd.end():]
    elif iso is not None and text[iso.end():iso.end() + 1] == " ":
        try:
            time = rfc3339_utc(iso[0])
            timestamp, rest = iso[0], text[iso.end() + 1:]
        except MalformedError:
            time = None
    if timestamp is not None:
        host, _, after = rest.partition(" ")
        if host and host.isprintable() and len(host) <= 255 and after:
            hostname, rest = host, after
    tag = _TAG.match(rest)
    if tag is not None:
        app_name, procid, rest = tag[1], tag[2], rest[tag.end():]
    return SyslogMessage("rfc3164", facility, severity, timestamp, time, hostname, app_name,
                         procid, None, (), rest.removesuffix("\n"), raw)

