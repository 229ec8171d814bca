"""The gRPC adapter of ``auditlog.v1.Log``: convert the request, call the core, convert back.

Every handler runs inside :meth:`LogService._guard`, which turns auditlog exceptions into the
status of ``server.status.GRPC_STATUS`` with the exception's message, and counts the outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, NoReturn, TypeVar

import grpc

from auditlog_tlog.common.echo import clip, echo
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.proto import auditlog_pb2_grpc as pb_grpc
from auditlog_tlog.server import convert
from auditlog_tlog.server.appended import Appended, Receipted
from auditlog_tlog.server.erasure import ErasureRequest
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.server.search import searcher_of
from auditlog_tlog.server.status import status_of, trailer_of
from auditlog_tlog.server.stream_window import AppendWindow, stream_log
from auditlog_tlog.tree.errors import AuditLogError, MalformedError, NotFoundError, PushbackError

log = logging.getLogger("auditlog.server")
T = TypeVar("T")
MAX_WAIT_MS = 30_000
MAX_PAGE = 1000  # ListCheckpoints
MAX_WAITERS = 4  # GetCheckpoint(cosigned) calls waiting at once (each holds a thread)
# GetEntries calls streaming at once: a page (up to ~4 MiB) waits in the server until the
# client reads it, in ~4 copies (the store's list, the message, its bytes, grpc's buffer): 100
# calls that never read held 1.6 GB. Beyond it a call gets RESOURCE_EXHAUSTED at once.
MAX_READERS = 16


class LogService(pb_grpc.LogServicer):
    def __init__(self, logs: dict[str, LogRuntime], metrics: Metrics,
                 readable: Callable[[Iterable[str], Any], list[str]],
                 who: Callable[[Any], str] = lambda context: "anonymous") -> None:
        self._logs = logs
        self._who = who  # context -> the caller's principal name (the erasure record's actor)
        self._metrics = metrics
        self._readable = readable  # (logs, context) -> those the caller may read
        self._waiters = 0
        self._readers = 0  # GetEntries calls streaming (MAX_READERS)
        # The calls answered without waiting: server/handlers.py serves them as plain
        # functions of the request, in its own coroutine (docs/call-cost.md).
        self.immediate: dict[str, Callable[[Any], bytes]] = {
            "GetInclusionProof": self.inclusion_proof,
            "GetConsistencyProof": self.consistency_proof,
        }

    def _log(self, name: str) -> LogRuntime:
        runtime = self._logs.get(name)
        if runtime is None:
            raise NotFoundError(f"unknown log {echo(name)}; ListLogs names the logs you may read")
        return runtime

    async def _guard(
        self, method: str, context: grpc.aio.ServicerContext, call: Callable[[], Awaitable[T]]
    ) -> T:
        started = time.perf_counter()
        try:
            result = await call()
        except AuditLogError as exc:
            await self._abort(method, context, exc, started)
        self._metrics.calls.call(method, "OK", time.perf_counter() - started)
        return result

    async def _abort(self, method: str, context: grpc.aio.ServicerContext, exc: AuditLogError,
                     started: float) -> NoReturn:
        """Count the failed call and end it with the status of ``exc``."""
        code = status_of(exc)
        self._metrics.calls.call(method, code.name, time.perf_counter() - started)
        await context.abort(code, clip(str(exc)), trailer_of(exc))
        raise AssertionError("not reached: abort raises")

    # -- appends -------------------------------------------------------------------------------
    # The three append calls answer bytes they wrote themselves (server/convert.py; the
    # handlers of server/handlers.py pass them through unchanged).
    async def Append(self, request: pb.AppendRequest, context: Any) -> bytes:
        async def call() -> bytes:
            runtime = self._log(request.log)
            addenda = [list(request.addenda)] if request.addenda else []
            return convert.append_response_bytes(
                await runtime.append([request.entry], request.want_receipt, addenda))

        return await self._guard("Append", context, call)

    async def AppendBatch(self, request: pb.AppendBatchRequest, context: Any) -> bytes:
        async def call() -> bytes:
            runtime = self._log(request.log)
            appended = await runtime.append(request.entries, request.want_receipt)
            return convert.append_batch_response_bytes(appended)

        return await self._guard("AppendBatch", context, call)

    async def AppendStream(
        self, request_iterator: AsyncIterator[pb.AppendStreamRequest], context: Any
    ) -> None:
        """Up to STREAM_WINDOW request messages are sequenced at once; acknowledgements are
        written in request order. The first error ends the stream with its status; messages
        that were not acknowledged may or may not have been appended (retry them: dedup makes
        the retry idempotent)."""

        async def acknowledge(sequence: int, appended: Appended) -> None:
            await context.write(convert.append_stream_response_bytes(sequence, appended))

        async def call() -> None:
            window = AppendWindow(acknowledge)
            origin: str | None = None
            try:
                async for request in request_iterator:
                    origin = stream_log(origin, request.log)
                    runtime = self._log(origin)
                    runtime.sequencer()  # a log that refuses writes ends the stream here
                    if not await window.submit(
                        request.sequence, runtime.append(request.entries, request.want_receipt)
                    ):
                        break
                await window.finish()
            finally:
                await window.close()

        await self._guard("AppendStream", context, call)

    # -- reads ---------------------------------------------------------------------------------
    async def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: Any
    ) -> pb.GetCheckpointResponse:
        async def call() -> pb.GetCheckpointResponse:
            runtime = self._log(request.log)
            if request.HasField("size"):
                if request.cosigned:
                    raise MalformedError("give size or cosigned, not both")
                note, size, witnesses = runtime.checkpoint_at(request.size)
            elif request.cosigned:
                if request.wait_ms > MAX_WAIT_MS:
                    raise MalformedError(f"wait_ms {request.wait_ms}, want at most {MAX_WAIT_MS}")
                wait_s = request.wait_ms / 1000
                if wait_s and self._waiters >= MAX_WAITERS:
                    raise PushbackError(f"{MAX_WAITERS} calls already wait for cosignatures; "
                                        "retry later or ask without wait_ms")
                self._waiters += 1 if wait_s else 0
                try:
                    note, size, witnesses = await asyncio.to_thread(
                        runtime.cosigned_checkpoint, request.min_size, wait_s
                    )
                finally:
                    self._waiters -= 1 if wait_s else 0
            else:
                note, size, witnesses = runtime.latest_checkpoint()
            return pb.GetCheckpointResponse(checkpoint=note, size=size, witnesses=witnesses)

        return await self._guard("GetCheckpoint", context, call)

    async def ListCheckpoints(
        self, request: pb.ListCheckpointsRequest, context: Any
    ) -> pb.ListCheckpointsResponse:
        async def call() -> pb.ListCheckpointsResponse:
            limit = request.limit if 0 < request.limit <= MAX_PAGE else MAX_PAGE
            sizes, more = self._log(request.log).checkpoint_page(request.begin_size, limit)
            return pb.ListCheckpointsResponse(sizes=sizes, more=more)

        return await self._guard("ListCheckpoints", context, call)

    async def Search(self, request: pb.SearchRequest, context: Any) -> pb.SearchResponse:
        async def call() -> pb.SearchResponse:
            searcher = searcher_of(self._log(request.log))
            page = await asyncio.to_thread(searcher.search, convert.search_query(request))
            return convert.search_response(page)

        return await self._guard("Search", context, call)

    # -- the immediate calls (``self.immediate``): served by server/handlers.py, which counts
    # them and turns an AuditLogError into its status; they answer serialized bytes.
    def inclusion_proof(self, request: pb.GetInclusionProofRequest) -> bytes:
        runtime = self._log(request.log)
        target = request.WhichOneof("target")
        if target is None:
            raise MalformedError("give index or leaf_hash, got neither")
        size = request.tree_size if request.HasField("tree_size") else None
        if target == "index":
            found = runtime.inclusion_by_index(request.index, size)
        else:
            found = runtime.inclusion_by_hash(request.leaf_hash, size)
        return convert.inclusion_response_bytes(found)

    def consistency_proof(self, request: pb.GetConsistencyProofRequest) -> bytes:
        runtime = self._log(request.log)
        size2 = request.size2 if request.HasField("size2") else None
        size1, size2, proof = runtime.consistency(request.size1, size2)
        return convert.consistency_response_bytes(size1, size2, proof)

    async def GetEntries(self, request: pb.GetEntriesRequest, context: Any) -> None:
        async def call() -> None:
            runtime = self._log(request.log)
            pages = runtime.entry_pages(request.begin, request.end)
            if self._readers >= MAX_READERS:
                raise PushbackError(f"{MAX_READERS} GetEntries calls already stream entries "
                                    "(each holds a page until its client reads it); retry later",
                                    retry_after=1.0)
            self._readers += 1
            try:
                for begin, entries in pages:
                    await context.write(pb.GetEntriesResponse(begin=begin, entries=entries))
            finally:
                self._readers -= 1

        await self._guard("GetEntries", context, call)

    async def GetLogInfo(self, request: pb.GetLogInfoRequest, context: Any) -> pb.LogInfo:
        async def call() -> pb.LogInfo:
            return convert.log_info(self._log(request.log))

        return await self._guard("GetLogInfo", context, call)

    async def AddCosignature(
        self, request: pb.AddCosignatureRequest, context: Any
    ) -> pb.AddCosignatureResponse:
        """Pull-mode witnesses hand in cosignatures; server/cosigning.py verifies them, the
        log's writer stores them."""

        async def call() -> pb.AddCosignatureResponse:
            runtime = self._log(request.log)
            names = await runtime.add_cosignatures(request.size, request.signatures)
            return pb.AddCosignatureResponse(witnesses=names)

        return await self._guard("AddCosignature", context, call)

    async def LegalHold(self, request: pb.LegalHoldRequest, context: Any) -> pb.LegalHoldResponse:
        """Admin only (server/handlers.py): server/holds.py holds the objects and logs it."""

        async def call() -> pb.LegalHoldResponse:
            # Here, not at the top: holds import boto3, which only a publishing log needs.
            from auditlog_tlog.server.holds import legal_hold

            size = request.size if request.HasField("size") else None
            done = await legal_hold(self._log(request.log), self._who(context), request.begin,
                                    request.end, request.release, request.reason, size)
            return pb.LegalHoldResponse(objects=done.objects, size=done.size, index=done.index,
                                        leaf_hash=done.leaf_hash)

        return await self._guard("LegalHold", context, call)

    async def GetAddendum(
        self, request: pb.GetAddendumRequest, context: Any
    ) -> pb.GetAddendumResponse:
        async def call() -> pb.GetAddendumResponse:
            data, index, erased_by = self._log(request.log).addendum(request.digest)
            return pb.GetAddendumResponse(addendum=data, index=index, erased_by=erased_by)

        return await self._guard("GetAddendum", context, call)

    async def Erase(self, request: pb.EraseRequest, context: Any) -> pb.EraseResponse:
        async def call() -> pb.EraseResponse:
            runtime = self._log(request.log)
            erasure = ErasureRequest(
                self._who(context), request.why, tuple(request.digests),
                request.index if request.HasField("index") else None,
            )
            outcome, index, digests = await runtime.erase(erasure)
            return pb.EraseResponse(erasure=convert.append_result(Receipted(outcome)),
                                    index=index, digests=digests)

        return await self._guard("Erase", context, call)

    async def ListLogs(self, request: pb.ListLogsRequest, context: Any) -> pb.ListLogsResponse:
        async def call() -> pb.ListLogsResponse:
            names = self._readable(sorted(self._logs), context)
            return pb.ListLogsResponse(logs=[convert.log_info(self._logs[name]) for name in names])

        return await self._guard("ListLogs", context, call)
