"""``auditlog audit --since ... --until ...``: audit the entries the log sequenced in a time
range, and the checkpoints around them (as CloudTrail's ``validate-logs --start-time
--end-time`` does for its digest files; docs/search.md).

1. The log's latest checkpoint is verified (and compared with the one this client verified
   last: a fork or rollback is a finding).
2. The time range becomes an index range [begin, end) by the log's time map (the server's
   word; what follows checks the entries, not the times).
3. The log's stored checkpoints around it, the last one at or below ``begin`` and the first at
   or above ``end``, are verified, and proven consistent with each other and with the latest.
4. Every entry of [begin, end) is proven, a page at a time, to be a leaf of the checkpoint
   after the range (``client.ranges.check_range``); and the search index is rebuilt from them
   and compared with what Search finds (``client.index_audit``).
"""

from __future__ import annotations

import itertools
import time
from typing import Final

from auditlog_tlog.client.findings import AuditReport, Finding, FindingKind, Source, Target
from auditlog_tlog.client.index_audit import IndexCheck
from auditlog_tlog.client.progress import Progress, Silent
from auditlog_tlog.client.ranges import check_range
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.client.verifier import VerifiedCheckpoint, Verifier
from auditlog_tlog.tree.errors import Inconsistency, InconsistencyError, VerificationError

PAGE: Final = 1000
_INCONSISTENCY: Final = {Inconsistency.FORK: FindingKind.FORK,
                         Inconsistency.ROLLBACK: FindingKind.ROLLBACK}


class RangeAuditor:
    def __init__(self, client: LogClient, verifier: Verifier, begin: int, end: int, *,
                 check_index: bool = True, progress: Progress | None = None) -> None:
        self.client, self.verifier = client, verifier
        self.begin, self.end = begin, end
        self.hasher = verifier.policy.hasher
        self.report = AuditReport(verifier.policy.origin, begin=begin)
        self.progress = progress or Silent()
        self.index = IndexCheck(client, self.find) if check_index else None

    def find(self, kind: FindingKind, message: str, size: int | None = None) -> None:
        self.report.findings.append(Finding(kind, message, size))

    def run(self) -> AuditReport:
        started = time.monotonic()
        latest = self._latest()
        if latest is not None:
            self.report.size, self.report.root = latest.size, latest.root
            after = self._around(latest)
            if after is not None:
                self._entries(after)
        self.report.seconds = time.monotonic() - started
        return self.report

    def _latest(self) -> VerifiedCheckpoint | None:
        try:
            latest = self.verifier.verify_checkpoint(self.client.checkpoint().note,
                                                     require_quorum=False)
        except VerificationError as exc:
            self.find(FindingKind.BAD_SIGNATURE, f"the log's latest checkpoint: {exc}")
            return None
        try:
            latest = self.verifier.observe(latest, latest=True)
        except InconsistencyError as exc:
            self.find(_INCONSISTENCY[exc.kind], str(exc), latest.size)
        self.report.targets.append(Target(latest, Source.LATEST, ok=True))
        return latest

    def _around(self, latest: VerifiedCheckpoint) -> VerifiedCheckpoint | None:
        """The checkpoints at or before ``begin`` and at or after ``end``, proven consistent."""
        self.end = min(self.end, latest.size)
        before_size, after_size = 0, latest.size
        for size in self.client.checkpoint_sizes(0):
            if size <= self.begin:
                before_size = size
            elif size >= self.end:
                after_size = min(size, latest.size)
                break
        chain: list[VerifiedCheckpoint] = []
        for size in sorted({before_size, after_size} - {0, latest.size}):
            try:
                checkpoint = self.verifier.checkpoint_at(size)
            except VerificationError as exc:
                self.find(FindingKind.BAD_SIGNATURE, f"the log's checkpoint of size {size}: {exc}",
                          size)
                return None
            self.report.targets.append(Target(checkpoint, Source.STORED, ok=True))
            chain.append(checkpoint)
        chain.append(latest)
        for old, new in itertools.pairwise(chain):
            try:
                self.verifier.consistency(old, new)
            except InconsistencyError as exc:
                self.find(FindingKind.FORK, str(exc), new.size)
                return None
        return next(c for c in chain if c.size == after_size)

    def _entries(self, after: VerifiedCheckpoint) -> None:
        self.progress.start(self.end - self.begin, "entries")
        try:
            for first, page in self.client.entry_pages(self.begin, self.end) \
                    if self.begin < self.end else ():
                for at in range(0, len(page), PAGE):
                    chunk = page[at:at + PAGE]
                    try:
                        check_range(self.client, self.hasher, first + at, chunk, after.size,
                                    after.root)
                    except VerificationError as exc:
                        self.find(FindingKind.TAMPERED_ENTRY, str(exc), after.size)
                        return
                if self.index is not None:
                    self.index.add(first, page)
                self.report.entries += len(page)
                self.progress.advance(len(page))
            if self.index is not None:
                self.index.finish()
                self.report.index_keys = self.index.keys if self.index.available else None
                self.report.index_from = self.index.indexed_from or 0
        finally:
            self.progress.close()
