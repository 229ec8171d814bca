"""The common syslog message straight to its entry: RFC 5424 (section 6) in UTF-8, its
structured data without escapes (docs/ingestion.md, "Speed").

:func:`fast_entry` gives exactly what ``message_entry(parse_syslog(raw, year), source)``
(server/ingest/syslog_server.py) gives, or ``None`` when the message is not of that shape
and must take the full reader (RFC 3164, escapes in a PARAM-VALUE, bytes that are not UTF-8,
anything malformed, which the full reader then names). One regular expression checks and
splits the whole header, as ``syslog_message`` checks it field by field, and no
``SyslogMessage`` is built: on a 200-byte message that halves the CPU of parsing and encoding
it. A Hypothesis test compares both readers on generated messages, valid or not.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from auditlog_tlog.server.ingest.record import encode_fields, rfc3339_utc, utc_of_z_second
from auditlog_tlog.server.ingest.syslog_message import FACILITIES, SEVERITIES
from auditlog_tlog.tree.errors import MalformedError

_NAME: Final = r"[!#-<>-\\^-~]{1,32}"  # SD-NAME: PRINTUSASCII but '=', SP, ']' and '"'
# The usual structured data, one element of at most _ONE_PARAMS parameters, captured by the
# match itself (ID, then NAME and VALUE of each parameter; None for those it does not have):
# no second and third expression to split it into elements and parameters.
_ONE_PARAMS: Final = 4
_ONE: Final = (r"\[(" + _NAME + r")" + (r'(?: (' + _NAME + r')="([^"\\]*)")?') * _ONE_PARAMS
               + r"\]")
# <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [SP MSG]: PRI 0..191 without
# a leading zero (6.2.1), the header fields as syslog_message's _RFC3339 and _HEADER_FIELDS
# check them, the structured data as its _SD_PLAIN (no backslash in any PARAM-VALUE).
_MESSAGE: Final = re.compile(
    r"<([0-9]|[1-9][0-9]|1[0-8][0-9]|19[01])>1 "
    r"(-|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})) "
    r"([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) "
    r"(-|" + _ONE + r"|(?:\[" + _NAME + r'(?: ' + _NAME + r'="[^"\\]*")*\])+)(?: (.*))?',
    re.DOTALL)
_ELEMENTS: Final = re.compile(r"\[(" + _NAME + r")((?: " + _NAME + r'="[^"\\]*")*)\]')
_PARAMS: Final = re.compile(r" (" + _NAME + r')="([^"\\]*)"')
# PRI (as the match gives it) -> the names of its facility and severity.
_PRIORITIES: Final = {str(pri): (FACILITIES[pri // 8], SEVERITIES[pri % 8]) for pri in range(192)}
# The search field (slot of actor, action, resource, outcome) each parameter name gives.
PARAM_SLOTS: Final = {"actor": 0, "user": 0, "action": 1, "resource": 2, "outcome": 3}


def fast_entry(raw: bytes, source: orjson.Fragment
               ) -> tuple[bytes | MalformedError, str | None] | None:
    """The entry of ``raw`` (or the MalformedError that refuses it alone, as ``message_entry``
    raises it) and its APP-NAME (None: NILVALUE), or None (module docstring). Raises what
    ``parse_syslog`` raises: a timestamp that is not a time in years 1..9999."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    m = _MESSAGE.fullmatch(text)
    if m is None:
        return None
    pri, stamp, hostname, app_name, procid, msgid, sd, *one, msg = m.groups()
    record: dict[str, Any] = {}  # keys inserted in sorted order, as SyslogMessage.record's
    app = None if app_name == "-" else app_name
    if app is not None:
        record["app_name"] = app
    facility, severity = _PRIORITIES[pri]
    record["facility"] = facility
    record["format"] = "rfc5424"
    host = None if hostname == "-" else hostname
    if host is not None:
        record["hostname"] = host
    record["msg"] = "" if msg is None else msg.removeprefix("\ufeff").removesuffix("\n")
    mid = None if msgid == "-" else msgid
    if mid is not None:
        record["msgid"] = mid
    if procid != "-":
        record["procid"] = procid
    record["raw"] = text
    record["severity"] = severity
    found: list[str | None] = [None, None, None, None]
    if sd != "-":
        # Parameters as (name, value) tuples, which orjson writes as arrays.
        if one[0] is not None:  # one element, split by the match: ID, NAME, VALUE, ...
            # The parameters it has come first, those it does not have are None (the match
            # takes each optional group it can, in order).
            size = len(one) - one.count(None)
            params = list(zip(one[1:size:2], one[2:size:2], strict=True))
            record["structured_data"] = [{"id": one[0], "params": params}]
        else:
            elements = [{"id": sd_id, "params": _PARAMS.findall(pairs)}
                        for sd_id, pairs in _ELEMENTS.findall(sd)]
            params = [pair for element in elements for pair in element["params"]]
            record["structured_data"] = elements
        for name, value in params:
            slot = PARAM_SLOTS.get(name)
            if slot is not None and found[slot] is None:
                found[slot] = value
    time = None
    if stamp != "-":
        record["timestamp"] = stamp
        # A stamp in UTC already (the usual one): its seconds checked, cached, the rest kept.
        utc = utc_of_z_second(stamp[:19]) if stamp[-1] == "Z" else None
        time = rfc3339_utc(stamp) if utc is None else utc + stamp[19:]
    actor, action, resource, outcome = found
    if not actor:
        actor = f"{app}@{host}" if app and host else (app or host or None)
    try:
        return encode_fields(actor, action or mid or app, resource, outcome, time, record,
                             source, keys_sorted=True), app
    except MalformedError as exc:
        return exc, app
