"""What ``auditlog audit`` (``client.audit``) reports: the kinds of finding, where each checkpoint
it held the log to came from, and the report with its JSON and text forms.

A kind or a source is an ``Enum`` so that code decides on it, never on message text; its value is
the string the JSON report has always shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from auditlog_tlog.client.verifier import VerifiedCheckpoint


class FindingKind(Enum):
    """Every discrepancy the audit can report."""

    BAD_SIGNATURE = "bad-signature"  # a checkpoint (latest, stored, witness's, archived) fails
    QUORUM = "quorum"  # the latest checkpoint lacks the trusted witnesses' quorum
    FORK = "fork"  # the latest checkpoint contradicts the one this client verified last
    ROLLBACK = "rollback"  # the log's latest is smaller than one seen before or elsewhere
    WITNESS_UNREACHABLE = "witness-unreachable"  # a configured witness did not answer
    MISSING_CHECKPOINT = "missing-checkpoint"  # a reference holds a checkpoint the log lacks
    ARCHIVE_OBJECT = "archive-object"  # an archive object is damaged or misnamed
    EVIDENCE = "evidence"  # the witness archived evidence of a fork
    MISSING_FROM_ARCHIVE = "missing-from-archive"  # a cosigned checkpoint the archive lacks
    ROOT_MISMATCH = "root-mismatch"  # a checkpoint's root is not the root of the entries
    TAMPERED_TREE = "tampered-tree"  # the log's stored nodes no longer prove its leaves
    TAMPERED_ENTRY = "tampered-entry"  # an entry no longer hashes to its signed leaf
    INDEX_MISSING = "index-missing"  # search does not find an entry under a value it has
    INDEX_MISFILED = "index-misfiled"  # search finds an entry under a value it has not


class Source(Enum):
    """Where a checkpoint the entries are held to came from."""

    LATEST = "latest"  # the log's latest checkpoint
    REMEMBERED = "remembered"  # the checkpoint this client verified last (its state directory)
    WITNESS = "witness"  # what a witness endpoint last cosigned
    ARCHIVED = "archived"  # an object in the witness's archive
    STORED = "stored"  # a checkpoint the log stores (ListCheckpoints, GetCheckpoint at a size)


# The sources that exist apart from the log's store: the store must hold each one's checkpoint.
REFERENCES = frozenset({Source.LATEST, Source.REMEMBERED, Source.WITNESS, Source.ARCHIVED})


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    message: str
    size: int | None = None


@dataclass(slots=True)
class Target:
    """A checkpoint to compare with the recomputed tree, and where it came from.

    ``where`` names the witness URL or the archive object path, for those sources.
    """

    checkpoint: VerifiedCheckpoint
    source: Source
    where: str = ""
    ok: bool | None = None

    def describe(self) -> str:
        match self.source:
            case Source.LATEST:
                return "the log's latest checkpoint"
            case Source.REMEMBERED:
                return "the checkpoint this client verified last"
            case Source.WITNESS:
                return f"the witness {self.where}'s latest cosigned checkpoint"
            case Source.ARCHIVED:
                return f"archived {self.where}"
            case Source.STORED:
                return f"the log's checkpoint of size {self.checkpoint.size}"


@dataclass(slots=True)
class AuditReport:
    origin: str
    size: int = 0
    root: bytes = b""
    entries: int = 0
    seconds: float = 0.0
    archive_objects: int = 0
    stored_checkpoints: int = 0  # how many the log holds (not all are checked above a cap)
    index_keys: int | None = None  # search index keys checked (None: the index was not checked)
    index_from: int = 0  # the index was checked from this entry on (the log's indexed_from)
    begin: int = 0  # the audited entries: [begin, size)
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
            "index_keys": self.index_keys, "index_from": self.index_from, "begin": self.begin,
            "checkpoints": [
                {"size": t.checkpoint.size, "source": t.describe(), "from": t.source.value,
                 "ok": t.ok, "witnesses": list(t.checkpoint.witnesses)} for t in self.targets
            ],
            "findings": [{"kind": f.kind.value, "size": f.size, "message": f.message}
                         for f in self.findings],
        }


def format_report(r: AuditReport, archive_dir: Path | None) -> str:
    rate = r.entries / r.seconds if r.seconds else 0.0
    lines = [f"audit of {r.origin}: {r.entries} entries in {r.seconds:.1f} s ({rate:,.0f}/s)",
             f"  recomputed root at size {r.size}: {r.root.hex()}"]
    summed: dict[Source, list[Target]] = {}
    for t in r.targets:
        if t.source in (Source.ARCHIVED, Source.STORED):
            summed.setdefault(t.source, []).append(t)
            continue
        mark = {True: "ok", False: "MISMATCH", None: "not checked"}[t.ok]
        cosigned = f", cosigned by {', '.join(t.checkpoint.witnesses)}" if t.checkpoint.witnesses else ""
        lines.append(f"  {mark:8} size {t.checkpoint.size:<8} {t.describe()}{cosigned}")
    for source, group in summed.items():
        bad = sum(1 for t in group if t.ok is False)
        sizes = sorted(t.checkpoint.size for t in group)
        what = ("archived cosigned checkpoints" if source is Source.ARCHIVED
                else f"of the log's {r.stored_checkpoints} stored checkpoints")
        lines.append(f"  {'ok' if not bad else 'MISMATCH':8} {len(group)} {what} "
                     f"(sizes {sizes[0]}..{sizes[-1]}){f', {bad} mismatched' if bad else ''}")
    if archive_dir is not None:
        lines.append(f"  archive {archive_dir}: {r.archive_objects} objects")
    if r.index_keys is not None:
        lines.append(f"  search index: {r.index_keys} keys rebuilt from the entries from index "
                     f"{r.index_from} on, and searched")
    if r.ok:
        lines.append("OK: every checkpoint agrees with the entries; no discrepancy found")
    else:
        lines.append(f"FAILED: {len(r.findings)} discrepancies")
        lines += [f"  - [{f.kind.value}] {f.message}" for f in r.findings]
    return "\n".join(lines)
