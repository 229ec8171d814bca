"""``auditlog audit``: re-verify a whole log from its entries.

1. Gather the checkpoints to hold the log to: its latest (checked against the auditor's
   remembered one: a fork or rollback is a finding), the remembered one, and, given a witness
   archive, every archived cosigned checkpoint of the log and the log's own checkpoint at each
   of those sizes. Each must carry a valid log signature.
2. Stream every entry (``GetEntries``), hash it and fold it into a compact range (RFC 6962), and
   note the recomputed root at each of those sizes; every checkpoint's root must equal it.
3. Archive completeness: every checkpoint seen with a cosignature of the archive's witness must
   be in the archive (the witness archives before it answers, so one that is not there was
   removed, or the archive is not that witness's). Evidence objects in the archive are forks.
4. When a root differs, find the first entry that changed: roots were kept at up to
   ``SAMPLES`` evenly spaced sizes, and a consistency proof from the log tells whether the
   recomputed prefix of each is still a prefix of the checkpoint's tree (a binary search); then
   the entries of the last good stretch are compared one by one with the leaf hashes the log's
   tree holds (each proven by an inclusion proof against the checkpoint).

Every discrepancy is a :class:`Finding`; the report lists them all and the command exits non-zero
if there is one.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from auditlog_tlog.client import archive, witnesses
from auditlog_tlog.client.context import Context
from auditlog_tlog.client.progress import Progress, Silent, progress_for
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.client.verifier import VerifiedCheckpoint, Verifier
from auditlog_tlog.tree.compact import CompactRange
from auditlog_tlog.tree.errors import (
    AuditLogError,
    InconsistencyError,
    MalformedError,
    NotFoundError,
    VerificationError,
)
from auditlog_tlog.tree.note import parse_note
from auditlog_tlog.tree.verify import verify_consistency, verify_inclusion

SAMPLES: Final = 4096


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # root-mismatch, tampered-entry, fork, rollback, bad-signature, missing-from-archive,
    #            archive-object, evidence, short-log
    message: str
    size: int | None = None


@dataclass(slots=True)
class Target:
    """A checkpoint to compare with the recomputed tree, and where it came from."""

    checkpoint: VerifiedCheckpoint
    source: str
    ok: bool | None = None


@dataclass(slots=True)
class AuditReport:
    origin: str
    size: int = 0
    root: bytes = b""
    entries: int = 0
    seconds: float = 0.0
    archive_objects: int = 0
    stored_checkpoints: int = 0  # how many the log holds (not all are checked above a cap)
    targets: list[Target] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "origin": self.origin, "size": self.size, "root": self.root.hex(),
            "entries": self.entries, "seconds": round(self.seconds, 3),
            "archive_objects": self.archive_objects,
            "stored_checkpoints": self.stored_checkpoints,
            "checkpoints": [
                {"size": t.checkpoint.size, "source": t.source, "ok": t.ok,
                 "witnesses": list(t.checkpoint.witnesses)} for t in self.targets
            ],
            "findings": [{"kind": f.kind, "size": f.size, "message": f.message}
                         for f in self.findings],
        }


class Auditor:
    def __init__(self, client: LogClient, verifier: Verifier, *, archive_dir: Path | None = None,
                 archive_witness: str | None = None, witness_urls: tuple[str, ...] = (),
                 progress: Progress | None = None, max_checkpoints: int = 10_000) -> None:
        self.max_checkpoints = max_checkpoints
        self.client, self.verifier, self.witness_urls = client, verifier, witness_urls
        self.hasher = verifier.policy.hasher
        self.origin = verifier.policy.origin
        self.archive_dir, self.archive_witness = archive_dir, archive_witness
        self.progress = progress or Silent()
        self.report = AuditReport(self.origin)

    def find(self, kind: str, message: str, size: int | None = None) -> None:
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
            self.find("bad-signature", f"the log's latest checkpoint does not verify: {exc}")
            return None
        if not latest.quorum_met:
            self.find("quorum", f"the latest checkpoint (size {latest.size}) is cosigned by "
                      f"{len(latest.witnesses)} trusted witnesses, want {self.verifier.policy.quorum}",
                      latest.size)
        remembered = None
        try:
            remembered = self.verifier.remembered()
            latest = self.verifier.observe(latest, latest=True)
        except InconsistencyError as exc:
            kind = "rollback" if "rolled back" in str(exc) else "fork"
            self.find(kind, str(exc), latest.size)
        self.report.targets.append(Target(latest, "the log's latest checkpoint"))
        if remembered is not None and remembered.size <= latest.size:
            self.report.targets.append(Target(remembered, "the checkpoint this client verified last"))
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
            self.find("witness-unreachable", f"{exc}; the audit could not check its checkpoint")
            return
        source = f"the witness {url}'s latest cosigned checkpoint"
        try:
            checked = self.verifier.verify_checkpoint(note, require_quorum=False)
        except (MalformedError, VerificationError) as exc:
            self.find("bad-signature", f"{source} does not verify: {exc}")
            return
        if checked.size > latest.size:
            self.find("rollback", f"{source} has size {checked.size}, larger than the log's "
                      f"latest ({latest.size}): the log rolled back", checked.size)
            return
        self.report.targets.append(Target(checked, source))

    def _archive(self, latest: VerifiedCheckpoint) -> None:
        root = self.archive_dir
        if root is None:
            return
        if not root.is_dir():
            self.find("archive-object", f"the archive directory {root} does not exist")
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
                self.find("rollback", f"{obj.path} is a checkpoint of size {checked.size}, larger "
                          f"than the log's latest ({latest.size}): the log rolled back", checked.size)
                continue
            self.report.targets.append(Target(checked, f"archived {obj.path}"))
            sizes.add(checked.size)
        for obj in archive.evidence(root, self.origin):
            self.report.archive_objects += 1
            self.find("evidence", f"the witness archived evidence of a fork at size {obj.size}: "
                      f"{obj.path}", obj.size)
        for size in sorted(sizes - {0}):  # the empty tree's root is fixed; no need to ask
            try:
                stored = self.verifier.checkpoint_at(size)
            except (AuditLogError, ValueError) as exc:
                self.find("missing-checkpoint", f"the log has no valid checkpoint of size {size}, "
                          f"which the witness archived: {exc}", size)
                continue
            self.report.targets.append(Target(stored, f"the log's checkpoint of size {size}"))
        self._completeness(archived_lines)

    def _stored(self, latest: VerifiedCheckpoint) -> None:
        """Every checkpoint the log stored (an even spread of ``max_checkpoints`` above that)
        must be signed by the log and agree with the entries."""
        sizes = [s for s in self.client.checkpoint_sizes() if 0 < s <= latest.size]
        self.report.stored_checkpoints = len(sizes)
        known = {t.checkpoint.size for t in self.report.targets}
        if len(sizes) > self.max_checkpoints:
            stride = len(sizes) / self.max_checkpoints
            sizes = sorted({sizes[int(i * stride)] for i in range(self.max_checkpoints)}
                           | {sizes[-1]})
        for size in sizes:
            if size in known:
                continue
            try:
                stored = self.verifier.checkpoint_at(size)
            except (AuditLogError, ValueError) as exc:
                self.find("bad-signature", f"the log's stored checkpoint of size {size} does not "
                          f"verify: {exc}", size)
                continue
            self.report.targets.append(Target(stored, f"the log's checkpoint of size {size}"))

    def _archived(self, obj: archive.ArchivedObject) -> VerifiedCheckpoint | None:
        if obj.problem is not None:
            self.find("archive-object", f"{obj.path}: {obj.problem}", obj.size)
            return None
        try:
            checked = self.verifier.verify_checkpoint(obj.data, require_quorum=False)
        except (MalformedError, VerificationError) as exc:
            self.find("bad-signature", f"{obj.path} is not a checkpoint signed by the log: {exc}",
                      obj.size)
            return None
        if checked.size != obj.size:
            self.find("archive-object", f"{obj.path} holds a checkpoint of size {checked.size}, "
                      f"its directory says {obj.size}", obj.size)
            return None
        return checked

    def _completeness(self, archived_lines: dict[int, set[str]]) -> None:
        """Every checkpoint seen cosigned by the archive's witness must be in the archive."""
        witness = self.archive_witness or self._guess_witness(archived_lines)
        if witness is None:
            return
        for target in list(self.report.targets):
            if target.source.startswith("archived"):
                continue
            note = parse_note(target.checkpoint.note)
            mine = {s.line() for s in note.signatures if s.name == witness}
            missing = mine - archived_lines.get(target.checkpoint.size, set())
            if missing:
                self.find("missing-from-archive",
                          f"{target.source} (size {target.checkpoint.size}) carries a cosignature "
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
            for _, page in self.client.entry_pages(0, size) if size else ():
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
        finally:
            self.progress.close()
        bad: list[Target] = []
        for target in self.report.targets:
            got = roots[target.checkpoint.size]
            target.ok = got == target.checkpoint.root
            if not target.ok:
                bad.append(target)
                self.find("root-mismatch",
                          f"{target.source} (size {target.checkpoint.size}) has root "
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
                self.find("tampered-tree", f"the log's tree does not prove leaf {index} in the "
                          f"checkpoint of size {checkpoint.size}: its stored nodes were changed",
                          checkpoint.size)
                return
            if self.hasher.hash_leaf(entry) != found.leaf_hash:
                self.find("tampered-entry", f"entry {index} does not hash to the leaf the signed "
                          f"tree holds ({found.leaf_hash.hex()[:16]}...): it was changed after it "
                          "was logged", checkpoint.size)
                return


# -- the command -------------------------------------------------------------------------------
def add_audit(p: argparse.ArgumentParser) -> None:
    p.add_argument("--archive", type=Path, help="a local witness archive to check against "
                   "(default: archive_dir of the client config)")
    p.add_argument("--no-archive", action="store_true", help="ignore any configured archive")
    p.add_argument("--archive-witness", help="the witness whose archive it is (default: the one "
                   "trusted witness, or the cosigner every archived object names)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--max-checkpoints", type=int, default=10_000, metavar="N",
                   help="check at most N of the log's stored checkpoints, evenly spread "
                   "(default 10000)")


def cmd_audit(ctx: Context) -> int:
    a = ctx.args
    archive_dir = None if a.no_archive else (a.archive or ctx.settings.archive_dir)
    auditor = Auditor(ctx.client, ctx.verifier(), archive_dir=archive_dir,
                      archive_witness=a.archive_witness, witness_urls=ctx.settings.witness_urls,
                      progress=progress_for(quiet=a.quiet or ctx.json),
                      max_checkpoints=max(1, a.max_checkpoints))
    report = auditor.run()
    ctx.emit(report.to_json(), format_report(report, archive_dir))
    return 0 if report.ok else 1


def format_report(r: AuditReport, archive_dir: Path | None) -> str:
    rate = r.entries / r.seconds if r.seconds else 0.0
    lines = [f"audit of {r.origin}: {r.entries} entries in {r.seconds:.1f} s ({rate:,.0f}/s)",
             f"  recomputed root at size {r.size}: {r.root.hex()}"]
    summed: dict[str, list[Target]] = {}
    for t in r.targets:
        kind = "archived" if t.source.startswith("archived") else (
            "stored" if t.source.startswith("the log's checkpoint of size") else "")
        if kind:
            summed.setdefault(kind, []).append(t)
            continue
        mark = {True: "ok", False: "MISMATCH", None: "not checked"}[t.ok]
        cosigned = f", cosigned by {', '.join(t.checkpoint.witnesses)}" if t.checkpoint.witnesses else ""
        lines.append(f"  {mark:8} size {t.checkpoint.size:<8} {t.source}{cosigned}")
    for kind, group in summed.items():
        bad = sum(1 for t in group if t.ok is False)
        sizes = sorted(t.checkpoint.size for t in group)
        what = {"archived": "archived cosigned checkpoints",
                "stored": f"of the log's {r.stored_checkpoints} stored checkpoints"}[kind]
        lines.append(f"  {'ok' if not bad else 'MISMATCH':8} {len(group)} {what} "
                     f"(sizes {sizes[0]}..{sizes[-1]}){f', {bad} mismatched' if bad else ''}")
    if archive_dir is not None:
        lines.append(f"  archive {archive_dir}: {r.archive_objects} objects")
    if r.ok:
        lines.append("OK: every checkpoint agrees with the entries; no discrepancy found")
    else:
        lines.append(f"FAILED: {len(r.findings)} discrepancies")
        lines += [f"  - [{f.kind}] {f.message}" for f in r.findings]
    return "\n".join(lines)
