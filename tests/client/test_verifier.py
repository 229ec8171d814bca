"""Verifier: receipts offline, the witness quorum, and the remembered checkpoint that catches a
fork or a rollback (with the signed evidence)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.client.state import CheckpointStore
from auditlog_tlog.client.verifier import TrustPolicy, Verifier
from auditlog_tlog.tree.checkpoint import Checkpoint
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.errors import (
    Inconsistency,
    InconsistencyError,
    MalformedError,
    VerificationError,
)
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import add_signatures, parse_note, sign_note
from auditlog_tlog.tree.tlogproof import TlogProof, format_tlog_proof, parse_tlog_proof
from tests.client.conftest import ORIGIN, log_signer
from tests.servers import RunningServer

WITNESS = CosignatureSigner.generate("witness.example/w1")
OTHER = CosignatureSigner.generate("witness.example/w2")


@pytest.fixture
def client(server: RunningServer) -> Iterator[LogClient]:
    with LogClient(server.address, ORIGIN, timeout=10) as c:
        yield c


@pytest.fixture
def policy(client: LogClient) -> TrustPolicy:
    return TrustPolicy((client.log_info().verifier_key,))


def cosign(note: bytes, *signers: CosignatureSigner) -> bytes:
    text = parse_note(note).text
    lines = b"".join(s.cosignature_line(text, int(time.time())) for s in signers)
    return add_signatures(note, lines)


def forge(server: RunningServer, size: int, root: bytes) -> bytes:
    """A checkpoint signed with the log's own key for a tree the log does not have."""
    return sign_note(Checkpoint(ORIGIN, size, root).to_text(), [log_signer(server)])


def test_receipt_verifies_offline(client: LogClient, policy: TrustPolicy) -> None:
    result = client.append(b"verifier: receipt", receipt=True)
    verifier = Verifier(policy)
    checked = verifier.verify_receipt(result.receipt, entry=b"verifier: receipt")
    assert checked.index == result.index and checked.checkpoint.size > result.index
    assert verifier.verify_receipt(result.receipt, leaf_hash=result.leaf_hash).index == result.index
    with pytest.raises(VerificationError):
        verifier.verify_receipt(result.receipt, entry=b"verifier: another entry")
    stranger = TrustPolicy((Ed25519Signer.generate(ORIGIN).verifier().vkey(),))
    with pytest.raises(VerificationError):
        Verifier(stranger).verify_receipt(result.receipt, entry=b"verifier: receipt")
    proof = parse_tlog_proof(result.receipt)
    moved = format_tlog_proof(TlogProof(proof.index + 1, proof.proof, proof.checkpoint))
    with pytest.raises(VerificationError):
        verifier.verify_receipt(moved, entry=b"verifier: receipt")
    with pytest.raises(MalformedError):
        verifier.verify_receipt(result.receipt[5:], entry=b"verifier: receipt")


def test_witness_quorum(client: LogClient, policy: TrustPolicy) -> None:
    result = client.append(b"verifier: quorum", receipt=True)
    proof = parse_tlog_proof(result.receipt)
    two = TrustPolicy(policy.log_keys, (WITNESS.verifier().vkey(), OTHER.verifier().vkey()), 1)
    verifier = Verifier(two)
    with pytest.raises(VerificationError, match="cosigned by 0 of the trusted witnesses"):
        verifier.verify_receipt(result.receipt, entry=b"verifier: quorum")
    cosigned = format_tlog_proof(TlogProof(proof.index, proof.proof, cosign(proof.checkpoint, OTHER)))
    checked = verifier.verify_receipt(cosigned, entry=b"verifier: quorum")
    assert checked.checkpoint.witnesses == ("witness.example/w2",)
    # A cosignature by an untrusted key does not count; a forged one by a trusted key fails.
    stranger = CosignatureSigner.generate("witness.example/w1")
    with pytest.raises(VerificationError):
        verifier.verify_checkpoint(cosign(proof.checkpoint, stranger))
    with pytest.raises(ValueError, match=r"want 0\.\.2"):
        TrustPolicy(policy.log_keys, two.witness_keys, 3)


def test_state_moves_forward_with_proofs(client: LogClient, policy: TrustPolicy,
                                         tmp_path: Path) -> None:
    verifier = Verifier(policy, state_dir=tmp_path, client=client)
    first = verifier.latest()
    assert first.consistency == "first"
    client.append(b"verifier: forward")
    second = verifier.latest()
    assert second.consistency == "proved" and second.size > first.size
    assert verifier.latest().consistency == "same"
    assert CheckpointStore(tmp_path).load(ORIGIN) == second.note
    # An older checkpoint of the log is fine when it is consistent.
    old = verifier.checkpoint_at(first.size)
    assert verifier.observe(old).consistency == "older"
    proven = verifier.prove(entry=b"verifier: forward")
    assert proven.checkpoint.size == second.size
    assert Verifier(policy).verify_receipt(proven.receipt, entry=b"verifier: forward")
    assert verifier.prove(index=0).index == 0
    assert verifier.consistency(old, second)


def test_fork_at_the_same_size_is_caught_offline(client: LogClient, policy: TrustPolicy,
                                                 server: RunningServer, tmp_path: Path) -> None:
    result = client.append(b"verifier: fork", receipt=True)
    Verifier(policy, state_dir=tmp_path).verify_receipt(result.receipt, entry=b"verifier: fork")
    proof = parse_tlog_proof(result.receipt)
    size = Verifier(policy).verify_checkpoint(proof.checkpoint).size
    forged = forge(server, size, SHA256.hash_leaf(b"another tree"))
    offline = Verifier(policy, state_dir=tmp_path)
    with pytest.raises(InconsistencyError, match="forked") as info:
        offline.observe(offline.verify_checkpoint(forged))
    assert info.value.evidence == (proof.checkpoint, forged)
    assert info.value.kind is Inconsistency.FORK
    (evidence,) = (tmp_path / "evidence").iterdir()
    assert proof.checkpoint in evidence.read_bytes() and forged in evidence.read_bytes()


def test_fork_at_another_size_and_rollback(client: LogClient, policy: TrustPolicy,
                                           server: RunningServer, tmp_path: Path) -> None:
    client.append(b"verifier: before the fork")
    latest = client.checkpoint()
    store = CheckpointStore(tmp_path)
    # The client once saw a smaller tree with another history: the log's newer head is a fork.
    store.save(ORIGIN, forge(server, latest.size - 1, SHA256.hash_leaf(b"x")))
    verifier = Verifier(policy, state_dir=tmp_path, client=client)
    with pytest.raises(InconsistencyError, match="not consistent") as forked:
        verifier.latest()
    assert forked.value.kind is Inconsistency.FORK
    # The client once saw a larger tree: the log's latest head is a rollback.
    store.save(ORIGIN, forge(server, latest.size + 1000, SHA256.hash_leaf(b"y")))
    with pytest.raises(InconsistencyError, match="rolled back") as rolled_back:
        verifier.latest()
    assert rolled_back.value.kind is Inconsistency.ROLLBACK


def test_state_file_signed_by_another_key_is_refused(policy: TrustPolicy, tmp_path: Path) -> None:
    other = Ed25519Signer.generate(ORIGIN)
    CheckpointStore(tmp_path).save(
        ORIGIN, sign_note(Checkpoint(ORIGIN, 1, bytes(32)).to_text(), [other]))
    with pytest.raises(ValueError, match="delete it"):
        Verifier(policy, state_dir=tmp_path).remembered()
