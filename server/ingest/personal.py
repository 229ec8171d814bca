"""Personal fields of ingested records, kept apart as addenda (c2sp.org/tlog-addenda,
``tree.addenda``; docs/erasure.md).

Configuration::

    [ingest.personal]
    otlp_attributes = ["user.email", "client.address"]  # OTLP LogRecord attribute keys
    syslog_params = ["src", "user"]                     # RFC 5424 structured-data parameters
    paths = ["user.extra", "sourceIPs", "log_record.body"]  # dotted paths in the record (any source)

:func:`split` takes each configured field out of a record and returns it as an addendum,
blinded by 16 random bytes; the record's entry then commits the addenda's digests
(``server.ingest.record``) and the addenda go to the log with it. A field's addendum value is
its text when it is a string, else its canonical JSON. A field that the record does not
carry is skipped. The search fields (actor, action, resource, outcome, time) are taken from
the record before the split and stay in the entry: they are what search finds, and cannot be
erased (keep a pseudonymous id as the actor).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auditlog_tlog.tree.addenda import FIELD, MAX_ADDENDA, NONCE_SIZE, Addendum


@dataclass(frozen=True, slots=True)
class PersonalConfig:
    otlp_attributes: frozenset[str] = frozenset()
    """OTLP LogRecord attribute keys whose values are personal (kept as addenda)."""
    syslog_params: frozenset[str] = frozenset()
    """RFC 5424 structured-data parameter names whose values are personal."""
    paths: tuple[str, ...] = ()
    """Dotted paths in the ingested record (any source) whose values are personal."""

    def __post_init__(self) -> None:
        names = [*self.otlp_attributes, *self.syslog_params, *self.paths]
        bad = [n for n in names if not isinstance(n, str) or not FIELD.fullmatch(n)]
        if bad:
            raise ValueError(f"[ingest.personal]: names {bad[:5]}, want 1..64 of [A-Za-z0-9_.:-]")
        if len(names) > MAX_ADDENDA:
            raise ValueError(f"[ingest.personal]: {len(names)} names, want at most {MAX_ADDENDA}")


def parse_personal(table: Mapping[str, Any]) -> PersonalConfig:
    allowed = {"otlp_attributes", "syslog_params", "paths"}
    if not isinstance(table, dict) or set(table) - allowed:
        raise ValueError(f"[ingest.personal]: want a table with some of {sorted(allowed)}")
    for key, value in table.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"[ingest.personal].{key}: got {value!r:.80}, want a list of strings")
    return PersonalConfig(frozenset(table.get("otlp_attributes", ())),
                          frozenset(table.get("syslog_params", ())), tuple(table.get("paths", ())))


def _value(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"stringValue"}:  # an OTLP AnyValue string
        value = value["stringValue"]
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def split(config: PersonalConfig, record: dict[str, Any],
          nonce: Callable[[int], bytes] = os.urandom) -> tuple[dict[str, Any], list[Addendum]]:
    """The record without its personal fields (a new dict; ``record`` is left alone), and
    those fields as addenda."""
    found: dict[str, Any] = {}
    record = json.loads(json.dumps(record))  # a deep copy of JSON values
    log_record = record.get("log_record")
    if config.otlp_attributes and isinstance(log_record, dict):
        kept = []
        for pair in log_record.get("attributes", ()):
            key = pair.get("key") if isinstance(pair, dict) else None
            if key in config.otlp_attributes and key not in found:
                found[key] = pair.get("value")
            else:
                kept.append(pair)
        log_record["attributes"] = kept
    if config.syslog_params:
        for element in record.get("structured_data", ()):
            params = element.get("params", []) if isinstance(element, dict) else []
            for param in list(params):
                if len(param) == 2 and param[0] in config.syslog_params and param[0] not in found:
                    found[param[0]] = param[1]
                    params.remove(param)
    for path in config.paths:
        *parents, leaf = path.split(".")
        node: Any = record
        for name in parents:
            node = node.get(name) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node and path not in found:
            found[path] = node.pop(leaf)
    addenda = [Addendum(name, _value(value), nonce(NONCE_SIZE))
               for name, value in sorted(found.items())]
    return record, addenda
