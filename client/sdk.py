"""``LogClient``: the SDK a service uses to append to a log, and the raw reads auditors build on.

::

    with LogClient("127.0.0.1:7600", origin="auditlog.example/payments") as log:
        result = log.append(AuditEvent("alice", "payment.refund", "order/42"), receipt=True)
        for result in log.append_stream(events(), receipt=False):   # a generator in,
            ...                                                      # results out, in order

Every append is answered once the entry is durable. Retries follow ``client.rpc``: pushback is
always retried after the delay the log names; a broken connection is retried only when the log
deduplicates (the default), since the retried append then returns the first index with
``duplicate=True``. **On a log with dedup off, a retried append may be stored twice**, so the
client does not retry it unless told to (``retry_appends=True``). Every unary call has a
deadline (``timeout`` seconds for all its attempts together).

Reads return plain dataclasses; nothing here verifies anything: that is ``client.verifier``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Self

import grpc

from auditlog_tlog.client import rpc
from auditlog_tlog.client.answers import ConsistencyProof, InclusionProof, SignedCheckpoint
from auditlog_tlog.client.event import AuditEvent
from auditlog_tlog.client.log_info import LogInfo, log_info_of
from auditlog_tlog.client.personal import PersonalEvent
from auditlog_tlog.client.streaming import AppendStreamer
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.proto import auditlog_pb2_grpc as pb_grpc
from auditlog_tlog.tree.addenda import Addendum, parse_addendum
from auditlog_tlog.tree.errors import InvalidRangeError, NotFoundError

MAX_REQUEST_BYTES: Final = 4 * 1024 * 1024  # bytes of entries per request message we send
MAX_MESSAGE: Final = 64 * 1024 * 1024
Entry = bytes | AuditEvent


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where an entry landed; ``receipt`` is a c2sp.org/tlog-proof@v1 receipt when asked for."""

    index: int
    leaf_hash: bytes
    duplicate: bool
    receipt: bytes = b""


@dataclass(frozen=True, slots=True)
class HoldResult:
    """A legal hold placed or released: how many objects, at which published size, and the
    index and leaf hash of the entry that records it."""

    objects: int
    size: int
    index: int
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class AddendumState:
    """An addendum as the log keeps it: ``addendum`` (verified against the digest), or None
    once erased, with ``erased_by`` the index of the entry recording the erasure."""

    digest: bytes
    index: int
    addendum: Addendum | None
    erased_by: int | None


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure did: the erasure record's append result, the entry, the digests."""

    record: AppendResult
    index: int
    digests: tuple[bytes, ...]


def entry_bytes(entry: Entry) -> bytes:
    if isinstance(entry, PersonalEvent):
        raise TypeError("entry: got a PersonalEvent, want LogClient.append for it (only single "
                        "appends carry addenda)")
    if isinstance(entry, AuditEvent):
        return entry.encode()
    if isinstance(entry, bytes | bytearray | memoryview):
        return bytes(entry)
    raise TypeError(f"entry: got {type(entry).__name__}, want bytes or AuditEvent")


def convert_result(r: pb.AppendResult) -> AppendResult:
    return AppendResult(r.index, r.leaf_hash, r.duplicate, r.receipt)


class LogClient:
    """A connection to one log on a server (``address`` is ``host:port``).

    ``origin`` names the log; when None, the server must hold exactly one log and that one is
    used. ``retry_appends`` None means "retry appends exactly when the log deduplicates".
    ``tls`` is (CA, client certificate, client key) PEM bytes (the last two for mutual TLS;
    without ``tls`` the connection is plain text, which the server allows on loopback only);
    ``token`` is a bearer token sent with every call.
    """

    def __init__(
        self,
        address: str,
        origin: str | None = None,
        *,
        timeout: float = 30.0,
        retry: rpc.RetryPolicy | None = None,
        retry_appends: bool | None = None,
        tls: tuple[bytes, bytes | None, bytes | None] | None = None,
        token: str | None = None,
        channel: grpc.Channel | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.retry = retry or rpc.RetryPolicy()
        self._retry_appends = retry_appends
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        options = [("grpc.max_receive_message_length", MAX_MESSAGE),
                   ("grpc.max_send_message_length", MAX_MESSAGE)]
        if channel is None and tls is not None:
            ca, cert, key = tls
            credentials = grpc.ssl_channel_credentials(ca, key, cert)
            channel = grpc.secure_channel(address, credentials, options=options)
        self._channel = channel or grpc.insecure_channel(address, options=options)
        self._stub: Any = pb_grpc.LogStub(self._channel)
        self._origin = origin
        self._info: LogInfo | None = None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------
    def _call(self, method: str, request: object, *, append: bool = False,
              timeout: float | None = None) -> Any:
        retry_unavailable = not append or self._appends_idempotent()
        return rpc.call(
            getattr(self._stub, method), request, address=self.address,
            timeout=self.timeout if timeout is None else timeout, policy=self.retry,
            retry_unavailable=retry_unavailable, metadata=self._metadata,
        )

    def _appends_idempotent(self) -> bool:
        if self._retry_appends is not None:
            return self._retry_appends
        return self.log_info().dedup

    @property
    def origin(self) -> str:
        """The log's origin; asks the server when it was not given."""
        if self._origin is None:
            logs = self.list_logs()
            if len(logs) != 1:
                names = ", ".join(i.origin for i in logs) or "none"
                raise NotFoundError(
                    f"the server at {self.address} holds {len(logs)} logs ({names}); name one"
                )
            self._origin = logs[0].origin
            self._info = logs[0]
        return self._origin

    def log_info(self, refresh: bool = False) -> LogInfo:
        """The log's key, hash, dedup and limits (cached; ``refresh`` asks again)."""
        if self._info is None or refresh:
            self._info = log_info_of(self._call("GetLogInfo", pb.GetLogInfoRequest(log=self.origin)))
        return self._info

    def list_logs(self) -> list[LogInfo]:
        return [log_info_of(i) for i in self._call("ListLogs", pb.ListLogsRequest()).logs]

    def legal_hold(self, begin: int, end: int, *, release: bool = False, reason: str = "",
                   size: int | None = None) -> HoldResult:
        """Place (or release) an S3 legal hold on the published objects of entries
        [begin, end) at published ``size`` (default: the bucket's), recorded as an entry of
        the log (the admin role; docs/retention.md)."""
        request = pb.LegalHoldRequest(log=self.origin, begin=begin, end=end, release=release,
                                      reason=reason, size=size)
        r = self._call("LegalHold", request, append=True)
        return HoldResult(r.objects, r.size, r.index, bytes(r.leaf_hash))

    # -- appends -------------------------------------------------------------------------------
    def append(self, entry: Entry | PersonalEvent, *, receipt: bool = False) -> AppendResult:
        """Append one entry (bytes, or an ``AuditEvent`` in its canonical encoding); a
        ``PersonalEvent`` (client.personal) goes with its addenda."""
        if isinstance(entry, PersonalEvent):
            request = pb.AppendRequest(log=self.origin, entry=entry.encode(),
                                       want_receipt=receipt, addenda=entry.encoded_addenda())
        else:
            request = pb.AppendRequest(log=self.origin, entry=entry_bytes(entry),
                                       want_receipt=receipt)
        return convert_result(self._call("Append", request, append=True).result)

    # -- addenda (docs/erasure.md) -------------------------------------------------------------
    def addendum(self, digest: bytes) -> AddendumState:
        """An addendum by digest, checked to hash to it (VerificationError otherwise), or where
        it was erased; NotFoundError when the log never kept it."""
        response = self._call("GetAddendum", pb.GetAddendumRequest(log=self.origin, digest=digest))
        if response.HasField("erased_by"):
            return AddendumState(digest, response.index, None, response.erased_by)
        return AddendumState(digest, response.index, parse_addendum(response.addendum, digest),
                             None)

    def erase(self, why: str, *, digests: Sequence[bytes] = (), index: int | None = None) -> Erasure:
        """Erase addenda by digest, or all those of entry ``index`` (the admin role); the
        erasure is recorded in the log with ``why``. Not retried after a broken connection
        (a second erasure would find nothing left: NotFoundError)."""
        request = pb.EraseRequest(log=self.origin, digests=digests, index=index, why=why)
        response = self._call("Erase", request, append=True, timeout=max(self.timeout, 60.0))
        return Erasure(convert_result(response.erasure), response.index, tuple(response.digests))

    def append_batch(self, entries: Sequence[Entry], *, receipt: bool = False) -> list[AppendResult]:
        """Append many entries, split into requests within the log's limits; results in order."""
        data = [entry_bytes(e) for e in entries]
        results: list[AppendResult] = []
        for chunk in self._chunks(data):
            request = pb.AppendBatchRequest(log=self.origin, entries=chunk, want_receipt=receipt)
            response = self._call("AppendBatch", request, append=True)
            results += [convert_result(r) for r in response.results]
        return results

    def _chunks(self, data: list[bytes]) -> Iterator[list[bytes]]:
        limit = self.log_info().limits.max_batch_entries or 1000
        chunk: list[bytes] = []
        total = 0
        for entry in data:
            if chunk and (len(chunk) >= limit or total + len(entry) > MAX_REQUEST_BYTES):
                yield chunk
                chunk, total = [], 0
            chunk.append(entry)
            total += len(entry)
        if chunk:
            yield chunk

    def append_stream(
        self,
        entries: Iterable[Entry],
        *,
        receipt: bool = False,
        batch_size: int = 1000,
        window: int = 8,
    ) -> Iterator[AppendResult]:
        """Append a (possibly endless) iterable over one ``AppendStream``; yields one result per
        entry, in input order, as the log acknowledges them.

        Entries are read ahead in a background thread and sent in messages of up to
        ``batch_size`` (what is available is sent at once, so a slow producer is not delayed);
        at most ``window`` messages are unacknowledged at a time. If the stream breaks with a
        retryable status, a new stream is opened and the unacknowledged messages are sent again
        (only on a log that deduplicates, or with ``retry_appends=True``: the log may have
        appended messages behind a failed one without acknowledging them).
        """
        info = self.log_info()
        streamer: AppendStreamer[AppendResult] = AppendStreamer(
            self._stub, self.origin, self.address, receipt=receipt,
            batch_size=max(1, min(batch_size, info.limits.max_batch_entries or batch_size)),
            max_bytes=MAX_REQUEST_BYTES, window=window, policy=self.retry,
            idempotent=self._appends_idempotent(), metadata=self._metadata,
        )
        return streamer.run((entry_bytes(e) for e in entries), convert_result)

    # -- reads ---------------------------------------------------------------------------------
    def checkpoint(self) -> SignedCheckpoint:
        """The latest signed checkpoint, with the cosignatures the log has collected."""
        r = self._call("GetCheckpoint", pb.GetCheckpointRequest(log=self.origin))
        return SignedCheckpoint(r.checkpoint, r.size, tuple(r.witnesses))

    def checkpoint_at(self, size: int) -> bytes | None:
        """The checkpoint the log signed at exactly ``size``, or None if it has none there."""
        try:
            r = self._call("GetCheckpoint", pb.GetCheckpointRequest(log=self.origin, size=size))
        except NotFoundError:
            return None
        return bytes(r.checkpoint)

    def checkpoint_sizes(self, begin: int = 0) -> Iterator[int]:
        """The sizes at which the log signed checkpoints, ascending (ListCheckpoints, paged)."""
        while True:
            page = self._call("ListCheckpoints",
                              pb.ListCheckpointsRequest(log=self.origin, begin_size=begin))
            yield from page.sizes
            if not page.more or not page.sizes:
                return
            begin = page.sizes[-1] + 1

    def inclusion_proof(
        self, *, index: int | None = None, leaf_hash: bytes | None = None, size: int | None = None
    ) -> InclusionProof:
        """PATH for an entry given by index or leaf hash, at ``size`` (default: the latest)."""
        if (index is None) == (leaf_hash is None):
            raise ValueError("give exactly one of index and leaf_hash")
        request = pb.GetInclusionProofRequest(log=self.origin, tree_size=size)
        if index is not None:
            request.index = index
        elif leaf_hash is not None:
            request.leaf_hash = leaf_hash
        r = self._call("GetInclusionProof", request)
        return InclusionProof(r.index, r.tree_size, r.leaf_hash, tuple(r.proof), r.checkpoint)

    def consistency_proof(self, size1: int, size2: int | None = None) -> ConsistencyProof:
        """PROOF(size1, D[size2]) (``size2`` default: the latest checkpoint's size)."""
        request = pb.GetConsistencyProofRequest(log=self.origin, size1=size1, size2=size2)
        r = self._call("GetConsistencyProof", request)
        return ConsistencyProof(r.size1, r.size2, tuple(r.proof))

    def search_page(self, request: pb.SearchRequest) -> pb.SearchResponse:
        """One page of Search, as the server sent it (``client.search`` checks it)."""
        request.log = self.origin
        response: pb.SearchResponse = self._call("Search", request)
        return response

    def entry_pages(self, begin: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
        """Entries of [begin, end) as (index of the first, entries) pages, in order.

        A stream broken by a retryable failure is resumed from the first entry not received.
        """
        if not 0 <= begin <= end:
            raise InvalidRangeError(f"range [{begin}, {end}): want 0 <= begin <= end")
        attempt = 0
        while begin < end:
            request = pb.GetEntriesRequest(log=self.origin, begin=begin, end=end)
            try:
                for page in self._stub.GetEntries(request, metadata=self._metadata):
                    if page.begin != begin or not page.entries:
                        raise rpc.RpcError(
                            f"GetEntries from {self.address}: got a page at {page.begin} with "
                            f"{len(page.entries)} entries, want one at {begin}", "DATA_LOSS")
                    attempt = 0
                    entries = list(page.entries)
                    begin += len(entries)
                    yield page.begin, entries
                if begin < end:
                    raise rpc.RpcError(
                        f"GetEntries from {self.address} ended at {begin}, want {end}", "DATA_LOSS"
                    )
            except grpc.RpcError as exc:
                delay = rpc.retry_delay(exc, attempt, self.retry, retry_unavailable=True)
                attempt += 1
                if delay is None or attempt >= self.retry.attempts:
                    raise rpc.to_error(exc, self.address) from None
                time.sleep(delay)

    def entries(self, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        """(index, entry) for every entry of [begin, end)."""
        for first, page in self.entry_pages(begin, end):
            for i, entry in enumerate(page):
                yield first + i, entry
