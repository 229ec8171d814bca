"""What an append answers, from the sequencer to the gRPC and ingestion handlers:
:class:`Appended`, where the entries of one append landed (as columns), read as one
:class:`Receipted` per entry (an outcome and, if asked for, its receipt)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

from auditlog_tlog.storage.batch import AppendOutcome


@dataclass(frozen=True, slots=True)
class Receipted:
    """An append outcome and, if asked for, its c2sp.org/tlog-proof@v1 receipt."""

    outcome: AppendOutcome
    receipt: bytes = b""


@dataclass(frozen=True, slots=True)
class Appended(Sequence[Receipted]):
    """Where the entries of one append landed, as columns; read as a sequence it gives one
    :class:`Receipted` per entry. The batch answers are encoded from the columns
    (server/convert.py) without an object per entry."""

    indexes: Sequence[int]  # per entry: its index (a duplicate's: the first one's)
    leaves: Sequence[bytes]  # per entry: its leaf hash
    duplicates: frozenset[int] = frozenset()  # positions of the entries already in the log
    receipts: Sequence[bytes] = ()  # empty, or one receipt per entry

    def __len__(self) -> int:
        return len(self.indexes)

    @overload
    def __getitem__(self, i: int) -> Receipted: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Receipted]: ...

    def __getitem__(self, i: int | slice) -> Receipted | Sequence[Receipted]:
        if isinstance(i, slice):
            return [self[j] for j in range(len(self))[i]]
        i = range(len(self))[i]  # negative positions, and IndexError past the end
        outcome = AppendOutcome(self.indexes[i], self.leaves[i], i in self.duplicates)
        return Receipted(outcome, self.receipts[i] if self.receipts else b"")
