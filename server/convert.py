"""Conversions between generated protobuf messages and the core's dataclasses."""

from __future__ import annotations

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.runtime import Inclusion, LogRuntime
from auditlog_tlog.server.sequencer import Receipted


def append_result(r: Receipted) -> pb.AppendResult:
    o = r.outcome
    return pb.AppendResult(
        index=o.index, leaf_hash=o.leaf_hash, duplicate=o.duplicate, receipt=r.receipt
    )


def inclusion_response(found: Inclusion) -> pb.GetInclusionProofResponse:
    return pb.GetInclusionProofResponse(
        index=found.index, tree_size=found.tree_size, leaf_hash=found.leaf_hash,
        proof=found.proof, checkpoint=found.checkpoint,
    )


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
