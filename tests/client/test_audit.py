"""The audit algorithm against a fake log that serves what the test tells it to: which entry
changed is found by bisection; archive objects that are damaged, evidence, and checkpoints
beyond the log are each a finding; so is a store that lists fewer checkpoints than a reference
holds (the log's latest, the remembered one, a witness's endpoint, the witness's archive)."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from auditlog_tlog.client import audit, findings, index_audit, range_audit
from auditlog_tlog.client.answers import ConsistencyProof, InclusionProof, SignedCheckpoint
from auditlog_tlog.client.audit import Auditor
from auditlog_tlog.client.findings import AuditReport, FindingKind, Source
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.client.verifier import TrustPolicy, Verifier
from auditlog_tlog.tree.checkpoint import Checkpoint, parse_checkpoint
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import add_signatures, parse_note, sign_note
from auditlog_tlog.tree.witness_protocol import AddCheckpointRequest, format_add_checkpoint
from auditlog_tlog.witness.archive import LocalArchive, cosigned_key, evidence_key
from tests.tree.reference import mth, path, proof
from tests.witness.helpers import TestLog as WitnessLog
from tests.witness.helpers import add_checkpoint, make_witness, served

ORIGIN = "fake.example/log"
LOG = Ed25519Signer.generate(ORIGIN)
WITNESS = CosignatureSigner.generate("fake.example/witness")


def signed(size: int, root: bytes) -> bytes:
    return sign_note(Checkpoint(ORIGIN, size, root).to_text(), [LOG])


class FakeLog:
    """Serves ``entries``, but proofs and checkpoints of the tree of ``signed_entries``."""

    def __init__(self, entries: list[bytes], signed_entries: list[bytes] | None = None) -> None:
        self.entries_ = entries
        self.leaves = [SHA256.hash_leaf(e) for e in (signed_entries or entries)]
        self.notes = {n: signed(n, mth(SHA256, self.leaves[:n])) for n in range(len(entries) + 1)}
        self.stored = [0, len(entries)]  # sizes ListCheckpoints reports

    def checkpoint_sizes(self, begin: int = 0) -> Iterator[int]:
        return iter(s for s in self.stored if s >= begin)

    def checkpoint(self) -> SignedCheckpoint:
        size = len(self.leaves)
        return SignedCheckpoint(self.notes[size], size, ())

    def checkpoint_at(self, size: int) -> bytes | None:
        return self.notes.get(size) if size else None

    def entry_pages(self, begin: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
        for first in range(begin, end, 7):
            yield first, self.entries_[first:min(end, first + 7)]

    def entries(self, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        yield from ((i, self.entries_[i]) for i in range(begin, end))

    def consistency_proof(self, size1: int, size2: int | None = None) -> ConsistencyProof:
        size2 = len(self.leaves) if size2 is None else size2
        hashes = proof(SHA256, size1, self.leaves[:size2]) if size1 else []
        return ConsistencyProof(size1, size2, tuple(hashes))

    def inclusion_proof(self, *, index: int | None = None, leaf_hash: bytes | None = None,
                        size: int | None = None) -> InclusionProof:
        assert index is not None and size is not None
        hashes = tuple(path(SHA256, index, self.leaves[:size]))
        return InclusionProof(index, size, self.leaves[index], hashes, self.notes[size])


def run(log: FakeLog, tmp_path: Path, archive: Path | None = None, witnesses: int = 0,
        max_checkpoints: int = 10_000, witness_urls: tuple[str, ...] = ()) -> AuditReport:
    policy = TrustPolicy((LOG.verifier().vkey(),), (WITNESS.verifier().vkey(),)[:witnesses])
    client = cast(LogClient, log)
    verifier = Verifier(policy, state_dir=tmp_path / "state", client=client)
    return Auditor(client, verifier, archive_dir=archive, max_checkpoints=max_checkpoints,
                   witness_urls=witness_urls).run()


def kinds(report: AuditReport) -> list[FindingKind]:
    return [f.kind for f in report.findings]


ENTRIES = [b"entry %d" % i for i in range(300)]


def test_clean(tmp_path: Path) -> None:
    report = run(FakeLog(ENTRIES), tmp_path)
    assert report.ok and report.entries == 300 and report.root == mth(SHA256, FakeLog(ENTRIES).leaves)


@pytest.mark.parametrize("samples", [8, 4096])
@pytest.mark.parametrize("changed", [0, 57, 299])
def test_the_changed_entry_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    samples: int, changed: int) -> None:
    monkeypatch.setattr(audit, "SAMPLES", samples)
    stored = list(ENTRIES)
    stored[changed] = b"entry X"
    report = run(FakeLog(stored, ENTRIES), tmp_path)
    assert kinds(report) == [FindingKind.ROOT_MISMATCH, FindingKind.TAMPERED_ENTRY]
    assert report.findings[1].message.startswith(f"entry {changed} does not hash")


def test_every_stored_checkpoint_is_checked(tmp_path: Path) -> None:
    log = FakeLog(ENTRIES)
    log.stored = [0, 10, 64, 120, 255, 300]
    log.notes[120] = signed(120, SHA256.hash_leaf(b"a root of another history"))
    report = run(log, tmp_path)
    assert report.stored_checkpoints == 5
    checked = {t.checkpoint.size for t in report.targets}
    assert {10, 64, 120, 255, 300} <= checked
    assert kinds(report)[0] == FindingKind.ROOT_MISMATCH and report.findings[0].size == 120


def test_stored_checkpoints_above_the_cap_are_sampled(tmp_path: Path) -> None:
    log = FakeLog(ENTRIES)
    log.stored = list(range(301))
    report = run(log, tmp_path, max_checkpoints=7)
    assert report.ok and report.stored_checkpoints == 300
    stored = [t for t in report.targets if t.source is Source.STORED]
    assert 6 <= len(stored) <= 8 and max(t.checkpoint.size for t in report.targets) == 300


def test_a_signed_root_that_no_tree_has(tmp_path: Path) -> None:
    log = FakeLog(ENTRIES)
    log.notes[300] = signed(300, SHA256.hash_leaf(b"not the root"))
    report = run(log, tmp_path)
    assert kinds(report) == [FindingKind.ROOT_MISMATCH, FindingKind.TAMPERED_TREE]


def test_archive_findings(tmp_path: Path) -> None:
    log = FakeLog(ENTRIES)
    root = tmp_path / "archive"
    archive = LocalArchive(root)

    def cosigned(size: int) -> bytes:
        line = WITNESS.cosignature_line(parse_note(log.notes[size]).text, 1_700_000_000 + size)
        return add_signatures(log.notes[size], line)

    log.stored = [0, 100, 200, 300]
    for size in (0, 100, 200):
        archive.put(cosigned_key(ORIGIN, size, cosigned(size)), cosigned(size))
    assert run(log, tmp_path, root, witnesses=1).ok
    # An object beyond the log's size, a changed object and fork evidence.
    bigger = add_signatures(signed(400, bytes(32)), WITNESS.cosignature_line(
        parse_note(signed(400, bytes(32))).text, 1_800_000_000))
    archive.put(cosigned_key(ORIGIN, 400, bigger), bigger)
    archive.put(evidence_key(ORIGIN, 100, b"a", b"b"), b"evidence")
    changed = root / cosigned_key(ORIGIN, 200, cosigned(200))
    os.chmod(changed, 0o644)
    changed.write_bytes(cosigned(200) + b" ")  # no longer what its name says
    report = run(log, tmp_path, root, witnesses=1)
    assert sorted(kinds(report), key=lambda k: k.value) == [
        FindingKind.ARCHIVE_OBJECT, FindingKind.ARCHIVE_OBJECT, FindingKind.ROLLBACK
    ]  # the evidence object is not an evidence document


def _evidence(archive: LocalArchive, witnessed: bytes, presented: bytes) -> None:
    """The evidence object the witness writes (witness.core) for these two notes."""
    doc = json.dumps({"origin": ORIGIN, "reason": "test", "witnessed": witnessed.decode(),
                      "presented": presented.decode(), "old_size": 0, "proof": []}).encode()
    size = parse_checkpoint(parse_note(presented).text).size
    archive.put(evidence_key(ORIGIN, size, witnessed, presented), doc)


@pytest.mark.parametrize(("size", "found", "not_found"), [
    (100, FindingKind.EVIDENCE, None),  # one size, two roots signed: a fork by itself
    (200, FindingKind.ROOT_MISMATCH, FindingKind.EVIDENCE),  # larger: held to the entries
])
def test_evidence_of_a_forked_checkpoint(tmp_path: Path, size: int, found: FindingKind,
                                         not_found: FindingKind | None) -> None:
    log = FakeLog(ENTRIES)
    log.stored = [0, 100, 300]
    root = tmp_path / "archive"
    _evidence(LocalArchive(root), log.notes[100], signed(size, bytes(32)))
    report = run(log, tmp_path, root)
    assert found in kinds(report)
    assert not_found not in kinds(report)


def test_evidence_of_a_bad_proof_between_honest_checkpoints_is_no_finding(tmp_path: Path) -> None:
    # Anyone may send the witness "old 100", a wrong proof and the log's (public) checkpoint of
    # size 200: the witness refuses it and archives the pair, which the entries explain.
    log = FakeLog(ENTRIES)
    log.stored = [0, 100, 200, 300]
    root = tmp_path / "archive"
    _evidence(LocalArchive(root), log.notes[100], log.notes[200])
    report = run(log, tmp_path, root)
    assert report.ok, report.findings
    assert any(t.where.endswith(evidence_key(ORIGIN, 200, log.notes[100], log.notes[200])
                                .rpartition("/")[2]) and t.ok for t in report.targets)




def test_missing_from_the_archive(tmp_path: Path) -> None:
    log = FakeLog(ENTRIES)
    line = WITNESS.cosignature_line(parse_note(log.notes[300]).text, 1_700_000_300)
    log.notes[300] = add_signatures(log.notes[300], line)
    root = tmp_path / "archive"
    archive = LocalArchive(root)
    other = add_signatures(signed(300, mth(SHA256, log.leaves)), WITNESS.cosignature_line(
        parse_note(log.notes[300]).text, 1_700_000_999))  # the same checkpoint, cosigned later
    archive.put(cosigned_key(ORIGIN, 300, other), other)
    report = run(log, tmp_path, root, witnesses=1)
    assert FindingKind.MISSING_FROM_ARCHIVE in kinds(report)
    archive.put(cosigned_key(ORIGIN, 300, log.notes[300]), log.notes[300])
    assert run(log, tmp_path, root, witnesses=1).ok
    assert hashlib.sha256(log.notes[300]).hexdigest() in str(list(root.rglob("*")))



# -- a store that lost checkpoints ---------------------------------------------------------------
def missing(report: AuditReport) -> list[int | None]:
    return [f.size for f in report.findings if f.kind is FindingKind.MISSING_CHECKPOINT]


def test_a_store_that_lists_no_checkpoint_is_a_finding(tmp_path: Path) -> None:
    log = FakeLog(ENTRIES)
    log.stored = []  # ListCheckpoints answers OK with nothing, e.g. after a damaged block
    report = run(log, tmp_path)
    assert kinds(report) == [FindingKind.MISSING_CHECKPOINT] and missing(report) == [300]
    assert report.stored_checkpoints == 0 and "the log's latest checkpoint" in report.findings[0].message


def test_a_store_without_the_remembered_checkpoint_is_a_finding(tmp_path: Path) -> None:
    earlier = FakeLog(ENTRIES[:120])
    assert run(earlier, tmp_path).ok  # this client now remembers size 120
    log = FakeLog(ENTRIES)
    report = run(log, tmp_path)
    assert missing(report) == [120] and len(report.findings) == 1
    assert "the checkpoint this client verified last" in report.findings[0].message
    log.stored = [0, 120, 300]
    assert run(log, tmp_path).ok
    del log.notes[120]  # listed, but GetCheckpoint at 120 finds nothing
    report = run(log, tmp_path)
    assert missing(report) == [120] and "serves no checkpoint of size 120" in report.findings[0].message


def test_a_store_without_the_archived_checkpoints_is_a_finding(tmp_path: Path) -> None:
    log = FakeLog(ENTRIES)
    root = tmp_path / "archive"
    for size in (100, 200):
        line = WITNESS.cosignature_line(parse_note(log.notes[size]).text, 1_700_000_000 + size)
        note = add_signatures(log.notes[size], line)
        LocalArchive(root).put(cosigned_key(ORIGIN, size, note), note)
    log.stored = [0, 200, 300]
    report = run(log, tmp_path, root, witnesses=1)
    assert kinds(report) == [FindingKind.MISSING_CHECKPOINT] and missing(report) == [100]
    assert "archived" in report.findings[0].message


def test_a_store_without_the_witness_checkpoint_is_a_finding(tmp_path: Path) -> None:
    log = FakeLog(ENTRIES)
    witness = make_witness(tmp_path / "witness", [WitnessLog(ORIGIN, LOG)], signer=WITNESS)
    with served(witness) as server:
        body = format_add_checkpoint(AddCheckpointRequest(0, (), log.notes[150]))
        assert add_checkpoint(server.server_address[1], body).status == 200
        url = f"http://127.0.0.1:{server.server_address[1]}"
        report = run(log, tmp_path, witnesses=1, witness_urls=(url,))
    assert kinds(report) == [FindingKind.MISSING_CHECKPOINT] and missing(report) == [150]
    assert url in report.findings[0].message
    sources = {t.source for t in report.targets}
    assert {Source.LATEST, Source.WITNESS} <= sources


def test_a_listed_checkpoint_the_log_does_not_serve_is_missing_not_a_bad_signature(
    tmp_path: Path,
) -> None:
    log = FakeLog(ENTRIES)
    log.stored = [0, 50, 300]
    del log.notes[50]
    report = run(log, tmp_path)
    assert kinds(report) == [FindingKind.MISSING_CHECKPOINT] and missing(report) == [50]


# -- kinds are decided on types ------------------------------------------------------------------
def test_a_rollback_and_a_fork_of_the_latest_checkpoint(tmp_path: Path) -> None:
    assert run(FakeLog(ENTRIES), tmp_path).ok  # remembers size 300
    rolled_back = run(FakeLog(ENTRIES[:120]), tmp_path)
    assert kinds(rolled_back) == [FindingKind.ROLLBACK]
    forked = FakeLog([b"another " + e for e in ENTRIES])
    forked.notes[300] = signed(300, mth(SHA256, forked.leaves))
    report = run(forked, tmp_path)
    assert kinds(report)[0] == FindingKind.FORK and report.findings[0].size == 300


def test_every_finding_kind_is_emitted_and_documented() -> None:
    used = {node.attr for module in (audit, index_audit, range_audit)
            for node in ast.walk(ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8")))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "FindingKind"}
    assert used == {kind.name for kind in FindingKind}
    findings_source = Path(findings.__file__).read_text(encoding="utf-8")
    for kind in FindingKind:  # each member has its comment saying what it means
        assert re.search(rf'{kind.name} = "{kind.value}"  # \w', findings_source), kind
