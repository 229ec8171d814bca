"""Whatever bytes arrive, the parsers of every ingestion source either give records or raise
MalformedError (a 400 / INVALID_ARGUMENT with the reason), never anything else."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.server.ingest.config import Route
from auditlog_tlog.server.ingest.kubernetes import event_records, parse_event_list
from auditlog_tlog.server.ingest.otlp_convert import parse_json, parse_protobuf, routed_entries
from auditlog_tlog.server.ingest.record import encode_entry
from auditlog_tlog.tree.errors import AuditLogError, MalformedError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["resourceLogs", "scopeLogs", "logRecords", "traceId", "spanId", "body",
                         "attributes", "key", "value", "stringValue", "timeUnixNano", "items",
                         "auditID", "stage", "user", "username", "objectRef", "namespace",
                         "responseStatus", "code", "stageTimestamp", "kind", "apiVersion"])
        | st.text(max_size=5), inner, max_size=5),
    max_leaves=25,
)
stamps = st.one_of(st.text(max_size=40), st.sampled_from([
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-02-30T00:00:00Z",
    "2026-11-30T01:45:00.Z", "2026-11-30T01:45:00.1234567890Z", "2026-11-30T01:45:00+25:00"]))


def _records_or_malformed(parse: Any, raw: bytes) -> None:
    try:
        records = parse(raw)
    except MalformedError:
        return
    for rec in records:
        with contextlib.suppress(MalformedError):
            encode_entry(rec)


def _otlp(raw: bytes, json_body: bool) -> list[Any]:
    request = parse_json(raw) if json_body else parse_protobuf(raw)
    by_log, _ = routed_entries(request, "otlp-http", None, Route(log="l"))
    for entries in by_log.values():
        for entry in entries:  # an entry of JSON, or the reason its record was refused alone
            if not isinstance(entry, MalformedError):
                assert isinstance(json.loads(entry), dict)
    return []


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_otlp_protobuf_bytes(raw: bytes) -> None:
    _records_or_malformed(lambda b: _otlp(b, False), raw)


@settings(max_examples=300)
@given(json_values)
def test_otlp_json_documents(document: Any) -> None:
    _records_or_malformed(lambda b: _otlp(b, True), json.dumps(document).encode())


def _events(raw: bytes) -> list[Any]:
    return event_records(parse_event_list(raw), "p")


@settings(max_examples=300)
@given(json_values, stamps, st.sampled_from(["RequestReceived", "Panic", "ResponseComplete"]))
def test_kubernetes_event_lists(extra: Any, stamp: str, stage: str) -> None:
    event = {"auditID": "a", "stage": stage, "stageTimestamp": stamp}
    if isinstance(extra, dict):
        event = {**extra, **event}
    body = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [event]}
    _records_or_malformed(_events, json.dumps(body).encode())


@given(st.binary(max_size=200))
def test_kubernetes_bytes(raw: bytes) -> None:
    try:
        _events(raw)
    except AuditLogError as exc:
        assert isinstance(exc, MalformedError)
