"""The shared ingestion sink on a real in-process log server: roles, quotas, limits, dedup."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from auditlog_tlog.server.app import LogServer
from auditlog_tlog.server.config import parse_config
from auditlog_tlog.server.ingest.record import IngestRecord, SearchFields, encode_entry
from auditlog_tlog.server.ingest.sink import IngestSink, reason_of
from auditlog_tlog.server.security import Authorizer, hash_token
from auditlog_tlog.storage.batch import AppendOutcome
from auditlog_tlog.tree import errors
from auditlog_tlog.tree.errors import (
    MalformedError,
    NotFoundError,
    PermissionDeniedError,
    PushbackError,
    UnauthenticatedError,
)

ORIGIN = "ingest.example/log"
CONFIG = f"""
[server]
listen = "127.0.0.1:0"
metrics_listen = ""

[[principal]]
name = "writer"
token_sha256 = "{hash_token("w")}"
roles = {{ "{ORIGIN}" = ["append"] }}
append_entries_per_s = 5

[[principal]]
name = "reader"
token_sha256 = "{hash_token("r")}"
roles = {{ "{ORIGIN}" = ["read"] }}

[[principal]]
name = "bulk"
token_sha256 = "{hash_token("b")}"
roles = {{ "{ORIGIN}" = ["append"] }}

[[log]]
origin = "{ORIGIN}"
max_entry_bytes = 400
max_batch_entries = 2
"""


def _rec(body: str, principal: str | None = "bulk") -> IngestRecord:
    return IngestRecord("test", principal, SearchFields(action="login"), {"body": body})


def _with_sink(tmp_path: Path, body: Callable[[LogServer, IngestSink], Awaitable[None]]) -> None:
    config = parse_config(CONFIG, tmp_path)

    async def main() -> None:
        server = LogServer(config)
        await server.start()
        try:
            authorizer = Authorizer(config.principals, frozenset())
            await body(server, IngestSink(server.logs, authorizer, server.metrics))
        finally:
            await server.stop()

    asyncio.run(main())


def _metric(server: LogServer, name: str, labels: dict[str, str]) -> float:
    return server.metrics.registry.get_sample_value(name, labels) or 0.0


def test_records_are_durable_in_batches_and_redelivery_is_deduplicated(tmp_path: Path) -> None:
    async def body(server: LogServer, sink: IngestSink) -> None:
        writer = server.config.principals[2]
        records = [_rec(f"r{i}") for i in range(5)]  # 5 records, batches of 2
        first = await sink.append(writer, ORIGIN, records)
        assert [o.index for o in first if isinstance(o, AppendOutcome)] == [0, 1, 2, 3, 4]
        store = server.logs[ORIGIN].store
        assert store.size == 5
        assert store.entries(0, 5) == [encode_entry(r) for r in records]
        again = await sink.append(writer, ORIGIN, records[:1])
        assert isinstance(again[0], AppendOutcome) and again[0].index == 0 and again[0].duplicate
        assert store.size == 5
        assert _metric(server, "auditlog_ingest_records_total", {"transport": "test", "log": ORIGIN}) == 6

    _with_sink(tmp_path, body)


def test_a_record_too_large_is_rejected_alone(tmp_path: Path) -> None:
    async def body(server: LogServer, sink: IngestSink) -> None:
        writer = server.config.principals[2]
        got = await sink.append(writer, ORIGIN, [_rec("a"), _rec("x" * 500), _rec("b")])
        assert isinstance(got[0], AppendOutcome) and isinstance(got[2], AppendOutcome)
        assert isinstance(got[1], MalformedError)
        assert "want at most 400" in str(got[1])
        assert server.logs[ORIGIN].store.size == 2
        assert _metric(server, "auditlog_ingest_rejected_total",
                       {"transport": "test", "reason": "malformed"}) == 1

    _with_sink(tmp_path, body)


def test_roles_logs_and_quotas_refuse_before_storage(tmp_path: Path) -> None:
    async def body(server: LogServer, sink: IngestSink) -> None:
        writer, reader, _ = server.config.principals
        with pytest.raises(UnauthenticatedError):
            await sink.append(None, ORIGIN, [_rec("a", None)])
        with pytest.raises(PermissionDeniedError, match="reader lacks the 'append' role"):
            await sink.append(reader, ORIGIN, [_rec("a", "reader")])
        with pytest.raises(NotFoundError, match="no log 'nope'"):
            await sink.append(writer, "nope", [_rec("a")])
        assert await sink.append(writer, ORIGIN, []) == []
        await sink.append(writer, ORIGIN, [_rec(str(i), "writer") for i in range(5)])  # the quota's 5/s
        with pytest.raises(PushbackError, match="entries quota"):
            await sink.append(writer, ORIGIN, [_rec("over")])
        assert server.logs[ORIGIN].store.size == 5
        assert _metric(server, "auditlog_ingest_rejected_total",
                       {"transport": "test", "reason": "pushback"}) == 1
        assert _metric(server, "auditlog_ingest_rejected_total",
                       {"transport": "test", "reason": "permission_denied"}) == 1

    _with_sink(tmp_path, body)


def test_every_error_class_has_a_reason() -> None:
    classes = [c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, errors.AuditLogError)]
    assert len(classes) > 10
    for cls in classes:
        exc = cls("x", kind=errors.Inconsistency.FORK) if cls is errors.InconsistencyError else cls("x")
        assert reason_of(exc) != "error" or cls is errors.AuditLogError


def test_encoded_entries_are_checked_and_appended(tmp_path: Path) -> None:
    async def body(server: LogServer, sink: IngestSink) -> None:
        writer = server.config.principals[2]
        refused = MalformedError("refused by its source")
        sent: list[bytes | MalformedError] = [encode_entry(_rec("a")), refused,
                                              encode_entry(_rec("x" * 500)), encode_entry(_rec("b"))]
        got = await sink.append_entries(writer, ORIGIN, "test", sent)
        assert got[0] is None and got[3] is None  # durable (no AppendOutcome built for them)
        assert got[1] is refused
        assert isinstance(got[2], MalformedError) and "want at most 400" in str(got[2])
        assert server.logs[ORIGIN].store.entries(0, 2) == [sent[0], sent[3]]
        assert _metric(server, "auditlog_ingest_rejected_total",
                       {"transport": "test", "reason": "malformed"}) == 2
        assert await sink.append_entries(writer, ORIGIN, "test", []) == []
        plain = [encode_entry(_rec("c")), encode_entry(_rec("d"))]  # none refused: one pass
        assert await sink.append_entries(writer, ORIGIN, "test", plain) == [None, None]
        assert server.logs[ORIGIN].store.entries(2, 4) == plain
        assert _metric(server, "auditlog_ingest_records_total",
                       {"transport": "test", "log": ORIGIN}) == 4

    _with_sink(tmp_path, body)


def test_a_pushback_waited_out_goes_on_from_the_batch_it_refused(tmp_path: Path) -> None:
    """With ``wait`` (the syslog and RELP listeners), a full queue refusing the second batch of
    a call is waited out and that batch tried again: the first, durable already, is not
    appended twice (a log without dedup would store it twice), and nothing is counted as
    refused. Without ``wait`` the PushbackError reaches the caller, counted."""
    async def body(server: LogServer, sink: IngestSink) -> None:
        writer = server.config.principals[2]
        runtime = server.logs[ORIGIN]
        append = runtime.append
        calls: list[int] = []
        waits: list[PushbackError] = []

        async def full_once(entries: Sequence[bytes], *args: Any, **kwargs: Any) -> Any:
            calls.append(len(entries))
            if len(calls) == 2:
                raise PushbackError("the queue is full", retry_after=0.01)
            return await append(entries, *args, **kwargs)

        async def wait(exc: PushbackError) -> None:
            waits.append(exc)

        runtime.append = full_once  # type: ignore[method-assign]
        sent = [encode_entry(_rec(f"r{i}")) for i in range(5)]  # batches of 2, 2 and 1
        assert await sink.append_entries(writer, ORIGIN, "test", sent, wait) == [None] * 5
        assert calls == [2, 2, 2, 1] and len(waits) == 1
        assert runtime.store.size == 5 and runtime.store.entries(0, 5) == sent
        assert _metric(server, "auditlog_ingest_rejected_total",
                       {"transport": "test", "reason": "pushback"}) == 0
        assert _metric(server, "auditlog_ingest_records_total",
                       {"transport": "test", "log": ORIGIN}) == 5
        calls.clear()
        with pytest.raises(PushbackError):
            await sink.append_entries(writer, ORIGIN, "test", [encode_entry(_rec(f"s{i}"))
                                                               for i in range(3)])
        assert runtime.store.size == 7  # the first batch of that call is durable
        assert _metric(server, "auditlog_ingest_rejected_total",
                       {"transport": "test", "reason": "pushback"}) == 1

    _with_sink(tmp_path, body)


def test_records_are_appended_in_batches_the_logs_queue_can_hold(tmp_path: Path) -> None:
    """A log whose queue (max_pending_entries) is smaller than its batch (max_batch_entries)
    gets batches of the queue's size: a larger one would be refused for ever."""
    config = parse_config(CONFIG.replace("max_batch_entries = 2",
                                         "max_batch_entries = 10\nmax_pending_entries = 3"),
                          tmp_path)

    async def main() -> None:
        server = LogServer(config)
        await server.start()
        try:
            sink = IngestSink(server.logs, Authorizer(config.principals, frozenset()),
                              server.metrics)
            sent = [encode_entry(_rec(f"q{i}")) for i in range(7)]
            assert await sink.append_entries(config.principals[2], ORIGIN, "test", sent) == [
                None] * 7
            assert server.logs[ORIGIN].store.entries(0, 7) == sent
        finally:
            await server.stop()

    asyncio.run(main())
