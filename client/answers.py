"""The answers of a log's read calls (RFC 9162 §2.1.3 proofs, a c2sp.org/tlog-checkpoint
note), as ``client.sdk.LogClient`` (the server) and ``client.tiles_source.TileSource`` (the
published tiles) return them. Plain values without grpc, so that a restore's worker processes,
which read tiles, never import it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """The log's latest checkpoint note (with cosignatures), its size and the witnesses named."""

    note: bytes
    size: int
    witnesses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InclusionProof:
    index: int
    size: int
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    checkpoint: bytes  # the signed note at exactly ``size``, or b"" if the log has none there


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    size1: int
    size2: int
    proof: tuple[bytes, ...]
