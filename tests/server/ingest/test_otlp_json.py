"""The hand-written OTLP/JSON of a LogRecord equals protobuf's JSON mapping (with hex ids)."""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from auditlog_tlog.server.ingest.otlp_json import LOG_RECORD_FIELDS, log_record

scalars = st.one_of(
    st.builds(lambda s: AnyValue(string_value=s), st.text(max_size=8)),
    st.builds(lambda i: AnyValue(int_value=i), st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda b: AnyValue(bool_value=b), st.booleans()),
    st.builds(lambda d: AnyValue(double_value=d), st.floats()),
    st.builds(lambda b: AnyValue(bytes_value=b), st.binary(max_size=8)),
    st.builds(lambda i: AnyValue(string_value_strindex=i), st.integers(-(2**31), 2**31 - 1)),
    st.just(AnyValue()),
)


def _pairs(values: list[tuple[str, AnyValue | None]]) -> list[KeyValue]:
    # An empty key stands for a string-table key (``key_strindex``), which logs do not use but
    # a producer may send: it must be kept too.
    return [KeyValue(key=k, key_strindex=0 if k else 5) if v is None
            else KeyValue(key=k, key_strindex=0 if k else 5, value=v) for k, v in values]


values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.builds(lambda vs: AnyValue(array_value=ArrayValue(values=vs)), st.lists(inner, max_size=3)),
        st.builds(lambda kvs: AnyValue(kvlist_value=KeyValueList(values=_pairs(kvs))),
                  st.lists(st.tuples(st.text(max_size=4), st.none() | inner), max_size=3)),
    ),
    max_leaves=8,
)


@st.composite
def log_records(draw: Any) -> LogRecord:
    record = LogRecord(
        time_unix_nano=draw(st.integers(0, 2**64 - 1)),
        observed_time_unix_nano=draw(st.integers(0, 2**64 - 1)),
        severity_number=draw(st.integers(0, 24)),
        severity_text=draw(st.text(max_size=5)),
        attributes=_pairs(draw(st.lists(st.tuples(st.text(max_size=4), st.none() | values), max_size=4))),
        dropped_attributes_count=draw(st.integers(0, 2**32 - 1)),
        flags=draw(st.integers(0, 2**32 - 1)),
        trace_id=draw(st.sampled_from([b"", bytes(range(16))])),
        span_id=draw(st.sampled_from([b"", bytes(range(8)), b"\xff"])),
        event_name=draw(st.text(max_size=5)),
    )
    body = draw(st.none() | values)
    if body is not None:
        record.body.CopyFrom(body)
    return record


def _reference(record: LogRecord) -> dict[str, Any]:
    document = json_format.MessageToDict(record, use_integers_for_enums=True)
    for key, raw in (("traceId", record.trace_id), ("spanId", record.span_id)):
        if raw:
            document[key] = raw.hex()
    return document


@settings(max_examples=300)
@given(log_records())
def test_log_record_equals_protobufs_json_mapping(record: LogRecord) -> None:
    assert log_record(record) == _reference(record)


@settings(max_examples=300)
@given(log_records())
def test_log_record_keys_come_sorted_so_the_entry_is_dumped_without_sorting(
        record: LogRecord) -> None:
    document = log_record(record)
    assert orjson.dumps(document) == orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def test_every_log_record_field_is_converted() -> None:
    assert {f.name for f in LogRecord.DESCRIPTOR.fields} == LOG_RECORD_FIELDS
