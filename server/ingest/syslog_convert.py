"""Syslog messages to entries: a read's messages parsed (RFC 5424, RFC 3164), routed to their
logs and written as entries (docs/ingestion-syslog.md, "The entry").

The conversion half of the syslog and RELP listeners (server/ingest/syslog_server.py holds the
connections, the RELP sessions and the appends). It depends on no server state, so it runs in
the server process or in a conversion worker (server/ingest/pool.py) alike, with the same
bytes: the year an RFC 3164 stamp lacks is the caller's, read from the server's one Clock.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from auditlog_tlog.server.ingest.record import encode_fields, source_json
from auditlog_tlog.server.ingest.syslog_config import SyslogListener
from auditlog_tlog.server.ingest.syslog_fast import PARAM_SLOTS, fast_entry
from auditlog_tlog.server.ingest.syslog_message import SyslogMessage, parse_syslog
from auditlog_tlog.tree.errors import MalformedError

# Messages of one read, parsed and encoded: (by log, the places in the read of its messages and
# their entries; per message "" or why it was refused).
Batch = tuple[dict[str, tuple[list[int], list[bytes | MalformedError]]], list[str]]


def search_fields(message: SyslogMessage) -> tuple[str | None, str | None, str | None,
                                                   str | None, str | None]:
    """The fields search indexes (docs/ingestion-syslog.md, "Search fields"), as (actor,
    action, resource, outcome, time).

    Structured-data parameters named ``actor`` (or ``user``), ``action``, ``resource`` and
    ``outcome`` win; otherwise the actor is the sender (``APP-NAME@HOSTNAME``) and the action
    the MSGID (RFC 5424) or the APP-NAME / TAG (RFC 3164).
    """
    found: list[str | None] = [None, None, None, None]  # the first parameter of each slot
    for _, params in message.structured_data:  # one pass, not one per field
        for name, value in params:
            slot = PARAM_SLOTS.get(name)
            if slot is not None and found[slot] is None:
                found[slot] = value
    actor, action, resource, outcome = found
    if not actor:
        actor = "@".join(p for p in (message.app_name, message.hostname) if p) or None
    return actor, action or message.msgid or message.app_name, resource, outcome, message.time


def message_entry(message: SyslogMessage, source: orjson.Fragment) -> bytes:
    """``encode_entry`` of the message's IngestRecord (``source`` from ``source_json``), in
    one ``orjson`` call: a syslog record holds only strings, its keys in sorted order."""
    return encode_fields(*search_fields(message), message.record(), source, keys_sorted=True)


def convert_messages(listener: SyslogListener, who: str | None, year: int,
                     messages: Sequence[bytes]) -> Batch:
    """Parse, route and encode the ``messages`` of one read from principal ``who`` on
    ``listener``; ``year``: the receive year, for RFC 3164 stamps. A message that does not
    parse is refused alone (its reason in the batch's list, "" for the others); one whose
    record cannot be encoded has its MalformedError among the entries, for the sink."""
    name = listener.name
    source = source_json(name, who)
    errors = [""] * len(messages)
    groups: dict[str, tuple[list[int], list[bytes | MalformedError]]] = {}
    route = listener.route
    # The usual listener routes every message of a sender alike: one group, no route per
    # message (APP-NAME decides only with log_by_app and a sender it does not route).
    fixed = listener.fixed_route(who)
    places, entries = groups.setdefault(fixed, ([], [])) if fixed is not None else ([], [])
    for i, raw in enumerate(messages):
        try:
            fast = fast_entry(raw, source)  # most messages: no SyslogMessage built
            if fast is not None:
                entry, app = fast
            else:
                message = parse_syslog(raw, year)
                app = message.app_name
                try:
                    entry = message_entry(message, source)
                except MalformedError as exc:
                    entry = exc  # refused alone, and counted, by the sink
        except MalformedError as exc:
            errors[i] = str(exc)
            continue
        if fixed is None:
            places, entries = groups.setdefault(route(who, app), ([], []))
        places.append(i)
        entries.append(entry)
    return {log: group for log, group in groups.items() if group[0]}, errors
