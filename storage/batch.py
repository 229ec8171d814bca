"""A batch on the write path (storage/logstore.py): :class:`PreparedBatch`, what
``LogStore.prepare`` made of it (hashed, deduplicated, folded into the tree, not yet written)
and ``LogStore.commit`` writes, and :class:`AppendOutcome`, where one entry landed."""

from __future__ import annotations

from dataclasses import dataclass, field

from auditlog_tlog.storage import strata
from auditlog_tlog.storage.addenda import AddendaChange


@dataclass(frozen=True, slots=True)
class AppendOutcome:
    """Where one appended entry landed."""

    index: int
    leaf_hash: bytes
    duplicate: bool


@dataclass(slots=True)
class PreparedBatch:
    """A batch hashed, deduplicated and folded into the tree, not yet written.

    Where each given entry landed is kept as columns (``indexes``, ``leaves``, ``duplicates``)
    rather than one :class:`AppendOutcome` per entry: a batch of 1,000 entries answered over
    gRPC is encoded straight from them (server/convert.py)."""

    indexes: list[int]  # per given entry: its index (a duplicate's: the first one's)
    leaves: list[bytes]  # per given entry: its leaf hash
    duplicates: frozenset[int]  # positions of the given entries already in the log
    size: int
    root: bytes
    compact: tuple[bytes, ...]
    entries: list[tuple[int, bytes, bytes]] = field(default_factory=list)  # index, entry, leaf
    leaf_keys: list[bytes] | None = None  # of ``entries``' leaves, when the dedup made them
    strata: dict[tuple[int, int], strata.Stratum] = field(default_factory=dict)
    addenda: AddendaChange | None = None  # stored or erased with the batch (storage.addenda)

    @property
    def outcomes(self) -> list[AppendOutcome]:
        """One outcome per given entry, in order."""
        dup = self.duplicates
        return [AppendOutcome(index, leaf, i in dup)
                for i, (index, leaf) in enumerate(zip(self.indexes, self.leaves, strict=True))]
