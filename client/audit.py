"""``auditlog audit``: re-verify a whole log from its entries.

1. Gather the checkpoints to hold the log to: its latest (checked against the auditor's
   remembered one: a fork or rollback is a finding), the remembered one, and, given a witness
   archive, every archived cosigned checkpoint of the log and the log's own checkpoint at each
   of those sizes, and every checkpoint the log stores (``ListCheckpoints``; an even spread above
   a cap). Each must carry a valid log signature.
2. Stream every entry (``GetEntries``), hash it and fold it into a compact range (RFC 6962), and
   note the recomputed root at each of those sizes; every checkpoint's root must equal it.
3. Archive completeness: every checkpoint seen with a cosignature of the archive's witness must
   be in the archive (the witness archives before it answers, so one that is not there was
   removed, or the archive is not that witness's). An evidence object of one size with two
   signed roots is a fork; one of a consistency proof that failed has its presented checkpoint
   held to the entries (a bad proof is no fork, a forked checkpoint's root differs).
4. When a root differs, find the first entry that changed: roots were kept at up to
   ``SAMPLES`` evenly spaced sizes, and a consistency proof from the log tells whether the
   recomputed prefix of each is still a prefix of the checkpoint's tree (a binary search); then
   the entries of the last good stretch are compared one by one with the leaf hashes the log's
   tree holds (each proven by an inclusion proof against the checkpoint).

Throughout, the log's store must be complete: every checkpoint a reference holds (the log's
latest, the one this client verified last, a witness's latest cosigned, an archived one) was
signed by the log and stored with its batch, so ``ListCheckpoints`` must list its size and
``GetCheckpoint`` must serve it. A store that lists none, or fewer, is a finding.

Every discrepancy is a :class:`~client.findings.Finding` of a :class:`~client.findings.FindingKind`;
the report lists them all and the command exits non-zero if there is one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Final

from auditlog_tlog.client import archive, witnesses
from auditlog_tlog.client.findings import (
    REFERENCES,
    AuditReport,
    Finding,
    FindingKind,
    Source,
    Target,
)
from auditlog_tlog.client.index_audit import IndexCheck
from auditlog_tlog.client.progress import Progress, Silent
from auditlog_tlog.client.reader import LogReader
from auditlog_tlog.client.verifier import VerifiedCheckpoint, Verifier
from auditlog_tlog.tree.compact import CompactRange
from auditlog_tlog.tree.errors import (
    AuditLogError,
    Inconsistency,
    InconsistencyError,
    MalformedError,
    NotFoundError,
    VerificationError,
)
from auditlog_tlog.tree.note import parse_note
from auditlog_tlog.tree.verify import verify_consistency, verify_inclusion

SAMPLES: Final = 4096
_INCONSISTENCY: Final = {Inconsistency.FORK: FindingKind.FORK,
                         Inconsistency.ROLLBACK: FindingKind.ROLLBACK}


class Auditor:
    def __init__(self, client: LogReader, verifier: Verifier, *, archive_dir: Path | None = None,
                 archive_witness: str | None = None, witness_urls: tuple[str, ...] = (),
                 progress: Progress | None = None, max_checkpoints: int = 10_000,
                 index_check: IndexCheck | None = None) -> None:
        self.max_checkpoints = max_checkpoints
        self.index_check = index_check  # the search index rebuilt and compared (index_audit)
        self.client, self.verifier, self.witness_urls = client, verifier, witness_urls
        self.hasher = verifier.policy.hasher
        self.origin = verifier.policy.origin
        self.archive_dir, self.archive_witness = archive_dir, archive_witness
        self.progress = progress or Silent()
        self.report = AuditReport(self.origin)
        self.asked: set[int] = set()  # sizes whose checkpoint was asked of the log

    def find(self, kind: FindingKind, message: str, size: int | None = None) -> None:
        self.report.findings.append(Finding(kind, message, size))

    def run(self) -> AuditReport:
        started = time.monotonic()
        latest = self._latest()
        if latest is not None:
            self.report.size, self.report.root = latest.size, latest.root
            self._archive(latest)
            self._stored(latest)
            self._recompute(latest.size)
        self.report.seconds = time.monotonic() - started
        return self.report

    # -- step 1: the checkpoints ---------------------------------------------------------------
    def _latest(self) -> VerifiedCheckpoint | None:
        note = self.client.checkpoint().note
        try:
            latest = self.verifier.verify_checkpoint(note, require_quorum=False)
        except (MalformedError, VerificationError) as exc:
            self.find(FindingKind.BAD_SIGNATURE,
                      f"the log's latest checkpoint does not verify: {exc}")
            return None
        if not latest.quorum_met:
            self.find(FindingKind.QUORUM, f"the latest checkpoint (size {latest.size}) is cosigned by "
                      f"{len(latest.witnesses)} trusted witnesses, want {self.verifier.policy.quorum}",
                      latest.size)
        remembered = None
        try:
            remembered = self.verifier.remembered()
            latest = self.verifier.observe(latest, latest=True)
        except InconsistencyError as exc:
            self.find(_INCONSISTENCY[exc.kind], str(exc), latest.size)
        self.report.targets.append(Target(latest, Source.LATEST))
        if remembered is not None and remembered.size <= latest.size:
            self.report.targets.append(Target(remembered, Source.REMEMBERED))
        for url in self.witness_urls:
            self._witness(url, latest)
        return latest

    def _witness(self, url: str, latest: VerifiedCheckpoint) -> None:
        """What the witness at ``url`` last cosigned must be a checkpoint of this log's tree."""
        try:
            note = witnesses.latest_cosigned(url, self.origin)
        except NotFoundError:
            return  # it has cosigned nothing yet
        except OSError as exc:
            self.find(FindingKind.WITNESS_UNREACHABLE,
                      f"{exc}; the audit could not check its checkpoint")
            return
        source = f"the witness {url}'s latest cosigned checkpoint"
        try:
            checked = self.verifier.verify_checkpoint(note, require_quorum=False)
        except (MalformedError, VerificationError) as exc:
            self.find(FindingKind.BAD_SIGNATURE, f"{source} does not verify: {exc}")
            return
        if checked.size > latest.size:
            self.find(FindingKind.ROLLBACK, f"{source} has size {checked.size}, larger than the log's "
                      f"latest ({latest.size}): the log rolled back", checked.size)
            return
        self.report.targets.append(Target(checked, Source.WITNESS, url))

    def _archive(self, latest: VerifiedCheckpoint) -> None:
        root = self.archive_dir
        if root is None:
            return
        if not root.is_dir():
            self.find(FindingKind.ARCHIVE_OBJECT, f"the archive directory {root} does not exist")
            return
        sizes: set[int] = set()
        archived_lines: dict[int, set[str]] = {}
        for obj in archive.cosigned(root, self.origin):
            self.report.archive_objects += 1
            checked = self._archived(obj)
            if checked is None:
                continue
            lines = {s.line() for s in parse_note(checked.note).signatures}
            archived_lines.setdefault(checked.size, set()).update(lines)
            if checked.size > latest.size:
                self.find(FindingKind.ROLLBACK, f"{obj.path} is a checkpoint of size {checked.size}, larger "
                          f"than the log's latest ({latest.size}): the log rolled back", checked.size)
                continue
            self.report.targets.append(Target(checked, Source.ARCHIVED, str(obj.path)))
            sizes.add(checked.size)
        for obj in archive.evidence(root, self.origin):
            self.report.archive_objects += 1
            self._evidence(obj, latest)
        for size in sorted(sizes - {0}):  # the empty tree's root is fixed; no need to ask
            self._stored_at(size, "which the witness archived")
        self._completeness(archived_lines)

    def _stored(self, latest: VerifiedCheckpoint) -> None:
        """Every checkpoint the log stored (an even spread of ``max_checkpoints`` above that)
        must be signed by the log and agree with the entries, and the store must list every
        checkpoint a reference holds."""
        sizes = [s for s in self.client.checkpoint_sizes() if 0 < s <= latest.size]
        self.report.stored_checkpoints = len(sizes)
        self._complete_store(set(sizes))
        known = {t.checkpoint.size for t in self.report.targets}
        if len(sizes) > self.max_checkpoints:
            stride = len(sizes) / self.max_checkpoints
            sizes = sorted({sizes[int(i * stride)] for i in range(self.max_checkpoints)}
                           | {sizes[-1]})
        for size in sizes:
            if size not in known:
                self._stored_at(size, "which it lists")

    def _complete_store(self, listed: set[int]) -> None:
        """Each reference's checkpoint must be in the log's store: listed, and served."""
        references: dict[int, Target] = {}
        for target in self.report.targets:
            if target.source in REFERENCES and target.checkpoint.size > 0:
                references.setdefault(target.checkpoint.size, target)
        for size, target in sorted(references.items()):
            if size not in listed:
                self.find(FindingKind.MISSING_CHECKPOINT,
                          f"the log lists {len(listed)} stored checkpoints and none of size "
                          f"{size}, but {target.describe()} is a checkpoint of that size signed "
                          "by the log: its store lost checkpoints", size)
            self._stored_at(size, f"which {target.describe()} is")

    def _stored_at(self, size: int, why: str) -> None:
        """Hold the entries to the log's own checkpoint at ``size`` (``why`` it must have one),
        once per size."""
        if size in self.asked:
            return
        self.asked.add(size)
        try:
            note = self.client.checkpoint_at(size)
        except AuditLogError as exc:
            note = None
            problem = f"asking for it failed: {exc}"
        else:
            problem = "it has none"
        if note is None:
            self.find(FindingKind.MISSING_CHECKPOINT, f"the log serves no checkpoint of size "
                      f"{size}, {why}: {problem}", size)
            return
        try:
            stored = self.verifier.verify_checkpoint(note, require_quorum=False)
        except (MalformedError, VerificationError) as exc:
            self.find(FindingKind.BAD_SIGNATURE, f"the log's stored checkpoint of size {size} "
                      f"does not verify: {exc}", size)
            return
        if stored.size != size:
            self.find(FindingKind.MISSING_CHECKPOINT, f"asked for the log's checkpoint of size "
                      f"{size}, {why}, it served one of size {stored.size}", size)
            return
        if not any(t.checkpoint.size == size and t.checkpoint.root == stored.root
                   for t in self.report.targets):  # the same head is compared once
            self.report.targets.append(Target(stored, Source.STORED))

    def _evidence(self, obj: archive.ArchivedObject, latest: VerifiedCheckpoint) -> None:
        """Two checkpoints signed by the log for one size with two roots prove a fork alone.
        Evidence of a consistency proof that failed does not: anyone may send a bad proof with
        the log's (public) checkpoints, so the presented checkpoint is held to the entries like
        an archived one, and a fork shows as its root mismatch."""
        notes = archive.evidence_notes(obj)
        if isinstance(notes, str):
            self.find(FindingKind.ARCHIVE_OBJECT, f"{obj.path}: {notes}", obj.size)
            return
        try:
            witnessed, presented = (self.verifier.verify_checkpoint(n, require_quorum=False)
                                    for n in notes)
        except (MalformedError, VerificationError) as exc:
            self.find(FindingKind.BAD_SIGNATURE, f"{obj.path} holds a checkpoint not signed by the "
                      f"log: {exc}", obj.size)
            return
        if presented.size != obj.size:
            self.find(FindingKind.ARCHIVE_OBJECT, f"{obj.path} presents a checkpoint of size "
                      f"{presented.size}, its directory says {obj.size}", obj.size)
        elif presented.size == witnessed.size and presented.root != witnessed.root:
            self.find(FindingKind.EVIDENCE, f"the witness archived evidence of a fork at size "
                      f"{obj.size} (two roots signed by the log): {obj.path}", obj.size)
        elif presented.size > latest.size:
            self.find(FindingKind.ROLLBACK, f"{obj.path} presents a checkpoint of size "
                      f"{presented.size}, larger than the log's latest ({latest.size}): the log "
                      "rolled back", presented.size)
        else:
            self.report.targets.append(Target(presented, Source.ARCHIVED, str(obj.path)))
            self._stored_at(presented.size, "which a witness's evidence presents")

    def _archived(self, obj: archive.ArchivedObject) -> VerifiedCheckpoint | None:
        if obj.problem is not None:
            self.find(FindingKind.ARCHIVE_OBJECT, f"{obj.path}: {obj.problem}", obj.size)
            return None
        try:
            checked = self.verifier.verify_checkpoint(obj.data, require_quorum=False)
        except (MalformedError, VerificationError) as exc:
            self.find(FindingKind.BAD_SIGNATURE, f"{obj.path} is not a checkpoint signed by the log: {exc}",
                      obj.size)
            return None
        if checked.size != obj.size:
            self.find(FindingKind.ARCHIVE_OBJECT, f"{obj.path} holds a checkpoint of size {checked.size}, "
                      f"its directory says {obj.size}", obj.size)
            return None
        return checked

    def _completeness(self, archived_lines: dict[int, set[str]]) -> None:
        """Every checkpoint seen cosigned by the archive's witness must be in the archive."""
        witness = self.archive_witness or self._guess_witness(archived_lines)
        if witness is None:
            return
        for target in list(self.report.targets):
            if target.source is Source.ARCHIVED:
                continue
            note = parse_note(target.checkpoint.note)
            mine = {s.line() for s in note.signatures if s.name == witness}
            missing = mine - archived_lines.get(target.checkpoint.size, set())
            if missing:
                self.find(FindingKind.MISSING_FROM_ARCHIVE,
                          f"{target.describe()} (size {target.checkpoint.size}) carries a cosignature "
                          f"of {witness}, but that cosigned checkpoint is not in the archive "
                          f"{self.archive_dir}", target.checkpoint.size)

    def _guess_witness(self, archived_lines: dict[int, set[str]]) -> str | None:
        """The witness whose archive this is: the one trusted witness, or the one cosigner
        every archived object names."""
        trusted = self.verifier.policy.witness_verifiers
        if len(trusted) == 1:
            return trusted[0].name
        names: set[str] | None = None
        for lines in archived_lines.values():
            cosigners = {line.split(" ")[1] for line in lines} - {self.origin}
            names = cosigners if names is None else names & cosigners
        return next(iter(names)) if names is not None and len(names) == 1 else None

    # -- step 2: recompute ---------------------------------------------------------------------
    def _recompute(self, size: int) -> None:
        """One pass over [0, size): the root at every wanted size and at every ``step``."""
        wanted = {t.checkpoint.size for t in self.report.targets}
        step = max(1, -(-size // SAMPLES))
        stops = iter(sorted((wanted | set(range(step, size + 1, step))) - {0}))
        roots = {0: self.hasher.empty_root()}
        samples = dict(roots)
        compact = CompactRange(self.hasher)
        stop = next(stops, None)
        self.progress.start(size, "entries")
        try:
            for first, page in self.client.entry_pages(0, size) if size else ():
                if self.index_check is not None:
                    self.index_check.add(first, page)
                position = 0
                while position < len(page):
                    take = len(page) - position
                    if stop is not None:
                        take = min(take, stop - compact.end)
                    compact.extend(self.hasher.hash_leaf(e) for e in page[position:position + take])
                    position += take
                    if compact.end == stop:
                        roots[stop] = compact.root()
                        if stop % step == 0:
                            samples[stop] = roots[stop]
                        stop = next(stops, None)
                self.report.entries += len(page)
                self.progress.advance(len(page))
            if self.index_check is not None:
                self.index_check.finish()
                if self.index_check.available:
                    self.report.index_keys = self.index_check.keys
                    self.report.index_from = self.index_check.indexed_from or 0
        finally:
            self.progress.close()
        bad: list[Target] = []
        for target in self.report.targets:
            got = roots[target.checkpoint.size]
            target.ok = got == target.checkpoint.root
            if not target.ok:
                bad.append(target)
                self.find(FindingKind.ROOT_MISMATCH,
                          f"{target.describe()} (size {target.checkpoint.size}) has root "
                          f"{target.checkpoint.root.hex()}, the log's entries give {got.hex()}",
                          target.checkpoint.size)
        if bad:
            self._locate(min(bad, key=lambda t: t.checkpoint.size).checkpoint, samples, step)

    # -- step 4: which entry changed -----------------------------------------------------------
    def _locate(self, checkpoint: VerifiedCheckpoint, samples: dict[int, bytes], step: int) -> None:
        sizes = sorted(s for s in samples if s < checkpoint.size)
        good, low, high = 0, 0, len(sizes) - 1
        while low <= high:  # the largest sample size whose prefix the checkpoint's tree shares
            mid = (low + high) // 2
            m = sizes[mid]
            proof = self.client.consistency_proof(m, checkpoint.size).proof
            try:
                verify_consistency(self.hasher, m, checkpoint.size, proof, samples[m], checkpoint.root)
                good, low = m, mid + 1
            except VerificationError:
                high = mid - 1
        end = min(good + step, checkpoint.size)
        for index, entry in self.client.entries(good, end):
            found = self.client.inclusion_proof(index=index, size=checkpoint.size)
            try:
                verify_inclusion(self.hasher, index, checkpoint.size, found.leaf_hash, found.proof,
                                 checkpoint.root)
            except VerificationError:
                self.find(FindingKind.TAMPERED_TREE, f"the log's tree does not prove leaf {index} in the "
                          f"checkpoint of size {checkpoint.size}: its stored nodes were changed",
                          checkpoint.size)
                return
            if self.hasher.hash_leaf(entry) != found.leaf_hash:
                self.find(FindingKind.TAMPERED_ENTRY, f"entry {index} does not hash to the leaf the signed "
                          f"tree holds ({found.leaf_hash.hex()[:16]}...): it was changed after it "
                          "was logged", checkpoint.size)
                return
