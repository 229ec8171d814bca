"""Where every ingestion source hands its records: roles, quotas, encoding, durable append.

One :class:`IngestSink` per server serves every source. For a principal, a log and a list of
:class:`~auditlog_tlog.server.ingest.record.IngestRecord`, :meth:`IngestSink.append`

1. refuses an unknown log (NotFoundError) and a caller without the ``append`` role on it
   (UnauthenticatedError / PermissionDeniedError), exactly as a gRPC ``AppendBatch`` would;
2. encodes each record (``encode_entry``; :meth:`IngestSink.append_entries` takes entries
   encoded already, as OTLP and syslog write them), its personal fields kept apart as
   addenda when ``[ingest.personal]`` names them (server/ingest/personal.py); a record that
   cannot be encoded or is larger than the log's ``max_entry_bytes`` is rejected alone, as a
   MalformedError in its place;
3. charges the principal's quotas for the rest (PushbackError when over);
4. appends them through the log's sequencer in batches of at most ``max_batch_entries`` and
   returns only once all are durable, with one AppendOutcome per accepted record
   (:meth:`IngestSink.append_entries`: ``None``, for sources that only count them).

A source that cannot answer "retry later" (plain syslog; RELP, whose sender would resend the
whole window) passes ``wait`` to :meth:`IngestSink.append_entries`: a quota or full queue
(PushbackError) is then waited out with it and the charge or the batch that was refused is
tried again, from where it stopped, so that the batches durable already are not appended
twice (with dedup off they would be stored twice) and a refusal that ends in the records being
stored is not counted as one.

Errors are the classes of tree/errors.py; each protocol maps them to its own status. Every
record accepted or rejected is counted (``auditlog_ingest_records_total{transport,log}``,
``auditlog_ingest_rejected_total{transport,reason}``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, Final, TypeGuard, TypeVar

from auditlog_tlog.server.ingest.personal import PersonalConfig, split
from auditlog_tlog.server.ingest.record import IngestRecord, decode_entry, encode_entry
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.server.security import Authorizer, Principal
from auditlog_tlog.storage.batch import AppendOutcome
from auditlog_tlog.tree import errors
from auditlog_tlog.tree.errors import AuditLogError, MalformedError, NotFoundError, PushbackError

# The ``reason`` label of a rejected record, by the class of the error that refused it.
REASONS: Final[dict[type[AuditLogError], str]] = {
    errors.AuditLogError: "error",
    errors.VerificationError: "verification",
    errors.MalformedError: "malformed",
    errors.InvalidRangeError: "malformed",
    errors.NotFoundError: "unknown_log",
    errors.ConflictError: "conflict",
    errors.PushbackError: "pushback",
    errors.PermissionDeniedError: "permission_denied",
    errors.UnauthenticatedError: "unauthenticated",
    errors.StorageError: "unavailable",
}
_R = TypeVar("_R")
_T = TypeVar("_T")
_NO_ADDENDA: Final[list[bytes]] = []  # shared, never changed
_NOT_APPENDED: Final = MalformedError("not appended")  # a slot's value until its batch is durable


async def _waiting_out(attempt: Callable[[], Awaitable[_T]],
                       wait: Callable[[PushbackError], Awaitable[None]] | None) -> _T:
    """``attempt()``; its PushbackError raised without ``wait``, else waited out with it and
    ``attempt`` made again, until it passes."""
    while True:
        try:
            return await attempt()
        except PushbackError as exc:
            if wait is None:
                raise
            await wait(exc)


def reason_of(exc: AuditLogError) -> str:
    """The metrics reason of ``exc``: its class's entry, else its nearest mapped base's."""
    for cls in type(exc).__mro__:
        if cls in REASONS:
            return REASONS[cls]
    return "error"


class IngestSink:
    """Appends ingested records to the server's logs for any source (module docstring)."""

    def __init__(self, logs: Mapping[str, LogRuntime], authorizer: Authorizer,
                 metrics: Metrics, personal: PersonalConfig | None = None) -> None:
        self._logs = logs
        self._personal = personal  # fields kept apart as addenda (docs/erasure.md)
        self._authorizer = authorizer
        self._metrics = metrics

    def identify(self, metadata: Any, auth_context: dict[str, list[bytes]]) -> Principal | None:
        """The caller behind a bearer token or a client certificate (None on an open server)."""
        if self._authorizer.open:
            return None
        return self._authorizer.identify(metadata, auth_context)

    def rejected(self, transport: str, exc: AuditLogError, count: int = 1) -> None:
        """Count ``count`` records of ``transport`` refused with ``exc`` before reaching a log."""
        self._metrics.ingest_rejected.labels(transport, reason_of(exc)).inc(count)

    async def append(
        self, principal: Principal | None, log: str, records: Sequence[IngestRecord]
    ) -> list[AppendOutcome | MalformedError]:
        """Append ``records`` to ``log``; returns, once every accepted record is durable, per
        record its outcome or the MalformedError that rejected it alone. Raises (nothing
        appended by this call then, unless the error came from a later batch: a retry is
        answered by dedup) for an unknown log, a denied role, a quota or a full queue."""
        if not records:
            return []
        return await self._append(principal, log, records[0].transport, records, self._encode,
                                  True)

    async def append_entries(
        self, principal: Principal | None, log: str, transport: str,
        entries: Sequence[bytes | MalformedError],
        wait: Callable[[PushbackError], Awaitable[None]] | None = None,
    ) -> list[MalformedError | None]:
        """As :meth:`append`, for records of ``transport`` encoded already (``encode_fields``
        of server/ingest/record.py, or the MalformedError that refused one alone), so that a
        source with many records per request builds no IngestRecord for them; per record
        ``None`` once it is durable (no AppendOutcome built: its sources only count them).
        With ``wait``, a PushbackError is waited out and retried, not raised (module
        docstring)."""
        if not entries:
            return []
        return await self._append(principal, log, transport, entries, self._check_entry,
                                  False, wait)

    async def _append(
        self, principal: Principal | None, log: str, transport: str, records: Sequence[_R],
        encode: Callable[[_R, int], tuple[bytes, list[bytes]] | MalformedError],
        outcomes: bool, wait: Callable[[PushbackError], Awaitable[None]] | None = None,
    ) -> list[Any]:
        """``append``/``append_entries``: with ``outcomes``, an AppendOutcome per durable
        record, else ``None``; ``wait`` as :meth:`append_entries`."""
        results: list[AppendOutcome | MalformedError | None] = []
        entries: list[bytes] = []
        addenda: list[list[bytes]] = []  # per entry, when personal fields are configured
        slots: list[int] = []  # where in ``results`` each entry's outcome goes
        done = 0
        try:
            runtime = self._logs.get(log)
            if runtime is None:
                raise NotFoundError(f"no log {log[:200]!r} on this server")
            self._authorizer.check(principal, log, "append")
            limit = runtime.config.max_entry_bytes
            if not outcomes and self._personal is None and _all_plain(records, limit):
                # Entries encoded already, none refused, none too large, no fields to take
                # out (the usual request): no call per entry.
                entries, results = list(records), [None] * len(records)
                records = ()
            for rec in records:
                outcome = encode(rec, limit)
                if isinstance(outcome, MalformedError):
                    self.rejected(transport, outcome)
                    results.append(outcome)
                else:
                    slots.append(len(results))
                    results.append(_NOT_APPENDED if outcomes else None)  # replaced below
                    entries.append(outcome[0])
                    addenda.append(outcome[1])
            if not entries:
                return results
            size = sum(map(len, entries))

            async def charge() -> None:
                self._authorizer.charge(principal, len(entries), size)

            await _waiting_out(charge, wait)
            # A batch the log's queue can never hold would be refused for ever.
            step = min(runtime.config.max_batch_entries, runtime.config.max_pending_entries)
            with_addenda = any(addenda)
            for begin in range(0, len(entries), step):
                # Through the runtime, as gRPC appends: it also waits for publication when the
                # log acknowledges only published entries. A refused batch appended nothing.
                batch = await _waiting_out(partial(
                    runtime.append, entries[begin:begin + step], want_receipt=False,
                    addenda=addenda[begin:begin + step] if with_addenda else ()), wait)
                if outcomes:  # from the columns: no Receipted per entry
                    duplicates = batch.duplicates
                    for position, (index, leaf) in enumerate(zip(batch.indexes, batch.leaves,
                                                                 strict=True)):
                        results[slots[done + position]] = AppendOutcome(
                            index, leaf, position in duplicates)
                done += len(batch)
        except AuditLogError as exc:
            # Records rejected alone were counted already; those of earlier batches are durable.
            refused = (len(entries) - done) if results else len(records)
            self.rejected(transport, exc, refused)
            self._metrics.ingest_records.labels(transport, log).inc(done)
            raise
        except asyncio.CancelledError:  # a listener stopping during a wait: count the durable
            self._metrics.ingest_records.labels(transport, log).inc(done)
            raise
        self._metrics.ingest_records.labels(transport, log).inc(len(entries))
        return results

    def _check_entry(self, entry: bytes | MalformedError,
                     limit: int) -> tuple[bytes, list[bytes]] | MalformedError:
        """An entry encoded already: its personal fields taken out when configured."""
        if isinstance(entry, MalformedError):
            return entry
        if self._personal is not None:
            return self._encode(decode_entry(entry), limit)
        if len(entry) > limit:
            return _too_large(len(entry), limit)
        return entry, _NO_ADDENDA

    def _encode(self, rec: IngestRecord, limit: int) -> tuple[bytes, list[bytes]] | MalformedError:
        """The record's entry and addenda (its personal fields, when configured)."""
        data: list[bytes] = []
        if self._personal is not None:
            record, found = split(self._personal, dict(rec.record))
            if found:
                try:
                    data = [a.encode() for a in found]
                except ValueError as exc:  # a field too large for an addendum
                    return MalformedError(f"record: a personal field: {exc}")
                rec = replace(rec, record=record,
                              addenda=tuple((a.field, a.digest().hex()) for a in found))
        try:
            entry = encode_entry(rec)
        except MalformedError as exc:
            return exc
        if len(entry) > limit:
            return _too_large(len(entry), limit)
        return entry, data


def _all_plain(entries: Sequence[object], limit: int) -> TypeGuard[Sequence[bytes]]:
    """Whether every one of ``entries`` is an entry (bytes) of at most ``limit`` bytes."""
    return all(type(e) is bytes and len(e) <= limit for e in entries)


def _too_large(size: int, limit: int) -> MalformedError:
    return MalformedError(f"record encodes to {size} bytes, want at most {limit} "
                          "(the log's max_entry_bytes)")
