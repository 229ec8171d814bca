"""Conversions between generated protobuf messages and the core's dataclasses (and the wire
bytes of the proof and append responses, written directly)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Final

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.appended import Appended, Receipted
from auditlog_tlog.server.runtime import Inclusion, LogRuntime
from auditlog_tlog.server.search import (
    MAX_FILTERS,
    MAX_INDEXES,
    MAX_LIMIT,
    Hit,
    Page,
    Query,
    parse_filter,
    parse_time_ns,
)
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.hashing import HASH_SIZE


def append_result(r: Receipted) -> pb.AppendResult:
    o = r.outcome
    return pb.AppendResult(
        index=o.index, leaf_hash=o.leaf_hash, duplicate=o.duplicate, receipt=r.receipt
    )


# The proof responses, serialized by hand: building the message and serializing it cost more
# than the proof itself (~25 hashes). Protobuf's wire format for these messages is fixed by
# proto/auditlog.proto: each field as tag (field number << 3 | wire type) then a varint, or a
# varint length and the bytes; zero integers and empty bytes left out, fields in number order,
# as protobuf itself writes them (tests/server/test_proof_wire.py compares the two).
ENCODED_RESPONSES: Final = frozenset({"GetInclusionProof", "GetConsistencyProof",
                                      "Append", "AppendBatch", "AppendStream"})


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL: Final = tuple(bytes([n]) for n in range(0x80))
_MORE: Final = tuple(bytes([n | 0x80]) for n in range(0x80))  # a varint's byte, more to come


def _uint64(tag: bytes, n: int) -> bytes:
    return tag + _varint(n) if n else b""


def _bytes(tag: bytes, data: bytes) -> bytes:
    return tag + _varint(len(data)) + data if data else b""


def _append_result(index: int, leaf: bytes, duplicate: bool, receipt: bytes) -> bytes:
    """One AppendResult (fields 1 index, 2 leaf_hash, 3 duplicate, 4 receipt)."""
    return b"".join((_uint64(b"\x08", index), _bytes(b"\x12", leaf),
                     b"\x18\x01" if duplicate else b"", _bytes(b"\x22", receipt)))


def _append_results(tag: bytes, appended: Appended) -> bytes:
    """The repeated AppendResult field ``tag``: one length-delimited result per entry.

    A batch of fresh entries without receipts (the common case: 1,000 a message) has
    consecutive indexes, written by :func:`_consecutive_results`; anything else one result at a
    time."""
    indexes, leaves = appended.indexes, appended.leaves
    first = indexes[0] if indexes else 0
    if appended.duplicates or appended.receipts or first <= 0 or \
            len(b"".join(leaves)) != HASH_SIZE * len(leaves) or \
            list(indexes) != list(range(first, first + len(indexes))):
        results = [_append_result(index, leaf, i in appended.duplicates,
                                  appended.receipts[i] if appended.receipts else b"")
                   for i, (index, leaf) in enumerate(zip(indexes, leaves, strict=True))]
        return b"".join(tag + _varint(len(r)) + r for r in results)
    return _consecutive_results(tag, first, leaves)


def _consecutive_results(tag: bytes, first: int, leaves: Sequence[bytes]) -> bytes:
    """The results of fresh entries at ``first``, ``first`` + 1, ... (``first`` > 0), each a
    prefix (tag and length, the index's tag and varint, the leaf hash's tag and length) and the
    hash, joined once.

    The indexes of a block of 128 aligned on 128 share every varint byte but the first (the
    low 7 bits, with the bit saying more bytes follow), so a block's prefixes are its head and
    one of 128 bytes and its tail: no varint is worked out per entry. A result is 1 (tag) +
    varint + 2 (tag, length) + 32 bytes, below 128: its length is one byte."""
    middle = b"\x12" + _SMALL[HASH_SIZE]
    prefixes: list[bytes] = []
    end = first + len(leaves)
    index = first
    while index < end:
        high = index >> 7
        stop = min(end, (high + 1) << 7)
        if high == 0:  # one-byte varints
            head = tag + _SMALL[3 + 1 + HASH_SIZE] + b"\x08"
            prefixes += [head + _SMALL[n] + middle for n in range(index, stop)]
        else:
            rest = _varint(high)
            head = tag + _SMALL[3 + 1 + len(rest) + HASH_SIZE] + b"\x08"
            tail = rest + middle
            prefixes += [head + low + tail for low in _MORE[index & 0x7F:(stop - 1 & 0x7F) + 1]]
        index = stop
    return b"".join(chain.from_iterable(zip(prefixes, leaves, strict=True)))


def append_response_bytes(appended: Appended) -> bytes:
    """A serialized AppendResponse (field 1 result) of a one-entry append."""
    if len(appended.indexes) != 1:
        raise ValueError(f"append response of {len(appended.indexes)} results, want 1")
    body = _append_result(appended.indexes[0], appended.leaves[0], 0 in appended.duplicates,
                          appended.receipts[0] if appended.receipts else b"")
    return b"\x0a" + _SMALL[len(body)] + body if len(body) < 0x80 else \
        b"\x0a" + _varint(len(body)) + body


def append_batch_response_bytes(appended: Appended) -> bytes:
    """A serialized AppendBatchResponse (field 1 results)."""
    return _append_results(b"\x0a", appended)


def append_stream_response_bytes(sequence: int, appended: Appended) -> bytes:
    """A serialized AppendStreamResponse (fields 1 sequence, 2 results)."""
    return _uint64(b"\x08", sequence) + _append_results(b"\x12", appended)


def _hashes(head: bytes, hashes: Sequence[bytes], leaf: bytes = b"") -> bytes:
    """A repeated bytes field of 32-byte hashes (every hash of our hashers), each ``head`` (its
    tag, then length 32) and the hash; ValueError naming the lengths when a hash, or ``leaf``
    (given beside them), is not 32 bytes."""
    field = head + head.join(hashes) if hashes else b""
    if len(field) != len(hashes) * (len(head) + HASH_SIZE) or len(leaf) not in (0, HASH_SIZE):
        raise ValueError(f"proof hashes: got lengths "
                         f"{sorted({len(h) for h in (leaf, *hashes) if h})}, want {HASH_SIZE}")
    return field


def inclusion_response_bytes(found: Inclusion) -> bytes:
    """A serialized GetInclusionProofResponse (fields 1 index, 2 tree_size, 3 leaf_hash,
    4 proof, 5 checkpoint)."""
    return b"".join((_uint64(b"\x08", found.index), _uint64(b"\x10", found.tree_size),
                     _bytes(b"\x1a", found.leaf_hash),
                     _hashes(b"\x22\x20", found.proof, found.leaf_hash),
                     _bytes(b"\x2a", found.checkpoint)))


def consistency_response_bytes(size1: int, size2: int, proof: Sequence[bytes]) -> bytes:
    """A serialized GetConsistencyProofResponse (fields 1 size1, 2 size2, 3 proof)."""
    return b"".join((_uint64(b"\x08", size1), _uint64(b"\x10", size2),
                     _hashes(b"\x1a\x20", proof)))


def log_info(runtime: LogRuntime) -> pb.LogInfo:
    c = runtime.config
    size = 0 if runtime.failure else runtime.store.checkpoint_size
    return pb.LogInfo(
        origin=c.origin, verifier_key=runtime.verifier_key, hash=c.hash, size=size,
        dedup=c.dedup, halted=str(runtime.halted or ""),
        witness_keys=list(runtime.witnesses.keys), witness_quorum=runtime.witnesses.quorum,
        keys=[pb.KeyInfo(verifier_key=k.verifier_key, state=k.state, since=k.since, until=k.until)
              for k in runtime.keys],
        limits=pb.Limits(
            max_entry_bytes=c.max_entry_bytes, max_batch_entries=c.max_batch_entries,
            max_pending_entries=c.max_pending_entries, max_entries_page=c.max_entries_page,
        ),
        publication=publication(runtime),
    )


def publication(runtime: LogRuntime) -> pb.Publication | None:
    publisher = runtime.publisher
    if publisher is None or runtime.config.publish is None:
        return None
    entries, seconds = publisher.observe_lag()
    return pb.Publication(
        bucket=publisher.bucket.bucket, prefix=publisher.bucket.prefix,
        published_size=publisher.published, lag_entries=entries, lag_seconds=seconds,
        last_published_unix=publisher.last_success,
        acknowledge_after_publication=runtime.config.publish.acknowledge_after_publication,
        failure=publisher.failure or "",
        retention_days=runtime.config.publish.retention_days, pruned_below=runtime.store.pruned,
        oldest_retain_until_unix=(runtime.retention.oldest_retain_until.timestamp()
                                  if runtime.retention and runtime.retention.oldest_retain_until
                                  else 0.0),
    )


def search_query(request: pb.SearchRequest) -> Query:
    """A Search request as a query; MalformedError names the field that is wrong."""
    filters = tuple(parse_filter(f.field, f.pattern) for f in request.filters)
    if len(filters) > MAX_FILTERS:
        raise MalformedError(f"filters: got {len(filters)}, want at most {MAX_FILTERS}")
    limit = request.limit or (MAX_INDEXES if request.indexes_only else MAX_LIMIT)
    return Query(
        filters=filters,
        since_ns=parse_time_ns("since", request.since) if request.since else None,
        until_ns=parse_time_ns("until", request.until) if request.until else None,
        newest=not request.oldest_first, limit=limit, cursor=request.cursor,
        begin=request.begin, end=request.end if request.HasField("end") else None,
        indexes_only=request.indexes_only,
    )


def search_response(page: Page) -> pb.SearchResponse:
    return pb.SearchResponse(
        checkpoint=page.checkpoint, tree_size=page.size, next_cursor=page.next_cursor or "",
        scanned=page.scanned, indexed_from=page.indexed_from, results=[_search_result(h) for h in page.hits],
    )


def _search_result(hit: Hit) -> pb.SearchResult:
    f = hit.fields
    fields = pb.SearchFields() if f is None else pb.SearchFields(
        actor=f.actor or "", action=f.action or "", resource=f.resource or "",
        outcome=f.outcome or "", time=f.time or "", source=f.source or "",
        principal=f.principal or "", request_id=f.request_id or "", attributes=dict(f.attributes),
    )
    if not hit.entry:  # indexes_only
        return pb.SearchResult(index=hit.index)
    return pb.SearchResult(index=hit.index, entry=hit.entry, leaf_hash=hit.leaf_hash,
                           proof=hit.proof, fields=fields,
                           logged_at_unix_nano=hit.logged_at_ns or 0)
