"""``LogReader``: the reads an auditor needs, answered by the log server (``sdk.LogClient``) or
by the log's published tiles (``tiles_source.TileSource``); the verifier and ``audit`` take
either, and check everything they get against signed checkpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from auditlog_tlog.client.answers import ConsistencyProof, InclusionProof, SignedCheckpoint


class LogReader(Protocol):
    @property
    def origin(self) -> str: ...

    def checkpoint(self) -> SignedCheckpoint: ...

    def checkpoint_at(self, size: int) -> bytes | None: ...

    def checkpoint_sizes(self, begin: int = 0) -> Iterator[int]: ...

    def inclusion_proof(self, *, index: int | None = None, leaf_hash: bytes | None = None,
                        size: int | None = None) -> InclusionProof: ...

    def consistency_proof(self, size1: int, size2: int | None = None) -> ConsistencyProof: ...

    def entry_pages(self, begin: int, end: int) -> Iterator[tuple[int, list[bytes]]]: ...

    def entries(self, begin: int, end: int) -> Iterator[tuple[int, bytes]]: ...
