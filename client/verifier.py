"""``Verifier``: what an auditor trusts, and the checks that rest on it.

A :class:`TrustPolicy` is the whole of the trust: the log's verifier key, the witnesses'
verifier keys and how many of them must have cosigned (k of n), plus the log's hash function.
Everything else (receipts, proofs, checkpoints, entries) comes from elsewhere and is checked:

* a checkpoint is accepted when the log's signature verifies and at least k of the n witnesses'
  cosignatures do (c2sp.org/signed-note, tlog-checkpoint, tlog-cosignature);
* a receipt (c2sp.org/tlog-proof@v1) is checked offline: its checkpoint as above, then the RFC
  9162 inclusion proof of the entry's leaf hash against that checkpoint;
* online, the latest checkpoint is fetched and checked, and proofs are fetched and checked
  against it.

The verifier remembers, per log, the last checkpoint it verified (``client.state``) and checks
every other checkpoint it sees against it: same size and another root is a fork; a newer one
must come with a valid consistency proof (else a fork); a "latest" checkpoint smaller than the
remembered one is a rollback. Each of these raises :class:`~tree.errors.InconsistencyError`
carrying both signed notes as evidence (also written under the state directory). Offline, a
checkpoint of another size cannot be checked against the remembered one; the result says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from auditlog_tlog.client.reader import LogReader
from auditlog_tlog.client.state import CheckpointStore
from auditlog_tlog.tree.checkpoint import Checkpoint, open_checkpoint
from auditlog_tlog.tree.cosignature import CosignatureVerifier
from auditlog_tlog.tree.errors import (
    Inconsistency,
    InconsistencyError,
    MalformedError,
    VerificationError,
)
from auditlog_tlog.tree.hashing import Hasher, get_hasher
from auditlog_tlog.tree.keys import Ed25519Verifier, NoteVerifier
from auditlog_tlog.tree.tlogproof import TlogProof, format_tlog_proof, parse_tlog_proof
from auditlog_tlog.tree.verify import verify_consistency, verify_inclusion

Consistency = Literal["first", "same", "proved", "older", "unchecked"]


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """The log's vkeys, the witnesses' vkeys and the quorum k (0 <= k <= n).

    A log rotating its key signs each checkpoint with every active key; trusting any one of
    them is enough (list the new key before the old one is retired). All must have one name,
    the log's origin.
    """

    log_keys: tuple[str, ...]
    witness_keys: tuple[str, ...] = ()
    quorum: int = 0
    hash: str = "sha256"
    log_verifiers: tuple[Ed25519Verifier, ...] = field(init=False, repr=False, compare=False)
    witness_verifiers: tuple[CosignatureVerifier, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.log_keys, str):
            object.__setattr__(self, "log_keys", (self.log_keys,))
        try:
            logs = tuple(Ed25519Verifier.from_vkey(k) for k in self.log_keys)
            witnesses = tuple(CosignatureVerifier.from_vkey(k) for k in self.witness_keys)
        except MalformedError as exc:
            raise ValueError(f"bad verifier key: {exc}") from None
        if not logs:
            raise ValueError("no log verifier key given, want at least one")
        if len({v.name for v in logs}) != 1:
            raise ValueError(f"log keys with different names {sorted({v.name for v in logs})}, "
                             "want one origin")
        get_hasher(self.hash)
        if len({(w.name, w.key_id) for w in witnesses}) != len(witnesses):
            raise ValueError("a witness key is listed twice")
        if not 0 <= self.quorum <= len(witnesses):
            raise ValueError(
                f"witness quorum: got {self.quorum}, want 0..{len(witnesses)} (the witness keys given)"
            )
        object.__setattr__(self, "log_verifiers", logs)
        object.__setattr__(self, "witness_verifiers", witnesses)

    @property
    def origin(self) -> str:
        """The log's origin: its key name (the server uses the origin as the key name)."""
        return self.log_verifiers[0].name

    @property
    def hasher(self) -> Hasher:
        return get_hasher(self.hash)

    def verifiers(self) -> list[NoteVerifier]:
        return [*self.log_verifiers, *self.witness_verifiers]


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    """A checkpoint whose log signature verified; ``witnesses`` names the cosigners that did."""

    checkpoint: Checkpoint
    note: bytes
    witnesses: tuple[str, ...]
    quorum_met: bool
    consistency: Consistency = "unchecked"

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root


@dataclass(frozen=True, slots=True)
class VerifiedInclusion:
    """An entry proven to be at ``index`` of ``checkpoint``; ``receipt`` is the tlog-proof."""

    index: int
    leaf_hash: bytes
    checkpoint: VerifiedCheckpoint
    receipt: bytes


class Verifier:
    """Checks checkpoints, receipts and proofs under ``policy``.

    ``state_dir`` (optional) is where the last verified checkpoint per log is kept; ``client``
    (optional) is needed for anything online, including consistency with the remembered state.
    """

    def __init__(
        self, policy: TrustPolicy, *, state_dir: Path | None = None,
        client: LogReader | None = None, sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy
        self.store = CheckpointStore(state_dir) if state_dir is not None else None
        self.client = client
        self._sleep = sleep

    # -- offline -------------------------------------------------------------------------------
    def verify_checkpoint(self, note: bytes, *, require_quorum: bool = True) -> VerifiedCheckpoint:
        """Check the log's signature and the witness quorum (``VerificationError`` if short)."""
        policy = self.policy
        checkpoint, opened = open_checkpoint(note, policy.verifiers(), origin=policy.origin)
        if not any(isinstance(v, Ed25519Verifier) and not isinstance(v, CosignatureVerifier)
                   for v in opened.verified):
            raise VerificationError(
                f"checkpoint of size {checkpoint.size} is not signed by a trusted key of the log "
                f"{policy.origin}"
            )
        witnesses = tuple(v.name for v in opened.verified if isinstance(v, CosignatureVerifier))
        met = len(witnesses) >= policy.quorum
        if require_quorum and not met:
            names = ", ".join(w.name for w in policy.witness_verifiers)
            raise VerificationError(
                f"checkpoint of size {checkpoint.size} is cosigned by {len(witnesses)} of the "
                f"trusted witnesses ({names}), want at least {policy.quorum}"
            )
        return VerifiedCheckpoint(checkpoint, note, witnesses, met)

    def verify_receipt(
        self, receipt: bytes, *, entry: bytes | None = None, leaf_hash: bytes | None = None
    ) -> VerifiedInclusion:
        """Check a c2sp.org/tlog-proof@v1 receipt for ``entry`` (or its leaf hash), offline.

        The receipt's checkpoint is also compared with the remembered one (see the module
        docstring): only an equal size can be checked offline.
        """
        leaf = self._leaf(entry, leaf_hash)
        proof = parse_tlog_proof(receipt)
        checked = self.verify_checkpoint(proof.checkpoint)
        verify_inclusion(self.policy.hasher, proof.index, checked.size, leaf, proof.proof,
                         checked.root)
        checked = self.observe(checked)
        return VerifiedInclusion(proof.index, leaf, checked, receipt)

    def _leaf(self, entry: bytes | None, leaf_hash: bytes | None) -> bytes:
        if (entry is None) == (leaf_hash is None):
            raise ValueError("give exactly one of entry and leaf_hash")
        return self.policy.hasher.hash_leaf(entry) if entry is not None else bytes(leaf_hash or b"")

    # -- remembered state ----------------------------------------------------------------------
    def remembered(self) -> VerifiedCheckpoint | None:
        """The last checkpoint verified for this log, or None."""
        if self.store is None or (note := self.store.load(self.policy.origin)) is None:
            return None
        try:
            return self.verify_checkpoint(note, require_quorum=False)
        except (MalformedError, VerificationError) as exc:
            raise ValueError(
                f"state file {self.store.path(self.policy.origin)} is not a checkpoint signed by "
                f"a trusted key of {self.policy.origin}: {exc}; delete it if the log's keys changed"
            ) from None

    def observe(self, new: VerifiedCheckpoint, *, latest: bool = False) -> VerifiedCheckpoint:
        """Check ``new`` against the remembered checkpoint and remember it if it is newer.

        ``latest`` says that the log presented ``new`` as its current head, so that a smaller
        size than the remembered one is a rollback rather than an old checkpoint.
        """
        if self.store is None:
            return new
        with self.store.locked():
            old = self.remembered()
            status = self._compare(old, new, latest)
            if status in ("first", "proved") or (
                status == "same" and old is not None and len(new.witnesses) > len(old.witnesses)
            ):
                self.store.save(self.policy.origin, new.note)
        return VerifiedCheckpoint(new.checkpoint, new.note, new.witnesses, new.quorum_met, status)

    def _compare(
        self, old: VerifiedCheckpoint | None, new: VerifiedCheckpoint, latest: bool
    ) -> Consistency:
        if old is None:
            return "first"
        if new.size == old.size:
            if new.root != old.root:
                self._inconsistent(
                    f"the log forked: two checkpoints of size {new.size} with different roots "
                    f"({old.root.hex()[:16]}... remembered, {new.root.hex()[:16]}... now)",
                    Inconsistency.FORK, old, new)
            return "same"
        if new.size < old.size and latest:
            self._inconsistent(
                f"the log rolled back: its latest checkpoint has size {new.size}, but size "
                f"{old.size} was verified before", Inconsistency.ROLLBACK, old, new)
        if self.client is None:
            return "unchecked"
        first, second = (old, new) if old.size < new.size else (new, old)
        proof = self.client.consistency_proof(first.size, second.size)
        try:
            verify_consistency(self.policy.hasher, first.size, second.size, proof.proof,
                               first.root, second.root)
        except VerificationError as exc:
            self._inconsistent(
                f"the log forked: the checkpoint of size {new.size} is not consistent with the "
                f"one of size {old.size} verified before ({exc})", Inconsistency.FORK, old, new)
        return "proved" if new.size > old.size else "older"

    def _inconsistent(self, message: str, kind: Inconsistency, old: VerifiedCheckpoint,
                      new: VerifiedCheckpoint) -> None:
        evidence = (old.note, new.note)
        if self.store is not None:
            path = self.store.save_evidence(self.policy.origin, evidence, message)
            message += f"; evidence saved in {path}"
        raise InconsistencyError(message, kind=kind, evidence=evidence)

    # -- online --------------------------------------------------------------------------------
    def _client(self) -> LogReader:
        if self.client is None:
            raise ValueError("this needs the log server (or its tiles): give the verifier a LogReader")
        return self.client

    def latest(self, *, require_quorum: bool = True, wait: float = 0.0,
               min_size: int = 0) -> VerifiedCheckpoint:
        """Fetch, verify and remember the log's latest checkpoint.

        With ``wait`` > 0, poll for up to that many seconds until the latest checkpoint has the
        witness quorum and covers ``min_size`` entries (witnesses cosign asynchronously).
        """
        client = self._client()
        deadline = time.monotonic() + wait
        delay = 0.05
        while True:
            fetched = client.checkpoint()
            checked = self.observe(self.verify_checkpoint(fetched.note, require_quorum=False),
                                   latest=True)
            ready = checked.quorum_met and checked.size >= min_size
            if ready or (not require_quorum and checked.size >= min_size):
                return checked
            if time.monotonic() + delay > deadline:
                if require_quorum:
                    self.verify_checkpoint(checked.note)  # raises, saying what is missing
                raise VerificationError(
                    f"the latest checkpoint has size {checked.size}, want at least {min_size}"
                )
            self._sleep(delay)
            delay = min(delay * 2, 1.0)

    def prove(
        self, *, index: int | None = None, entry: bytes | None = None,
        leaf_hash: bytes | None = None, at: VerifiedCheckpoint | None = None,
    ) -> VerifiedInclusion:
        """Fetch and check an inclusion proof against ``at`` (default: the latest checkpoint,
        which must meet the quorum); returns it with a receipt built from it."""
        client = self._client()
        if entry is not None or leaf_hash is not None:
            leaf: bytes | None = self._leaf(entry, leaf_hash)
        elif index is None:
            raise ValueError("give an index, an entry or a leaf hash")
        else:
            leaf = None
        checkpoint = at or self.latest()
        if leaf is not None:
            found = client.inclusion_proof(leaf_hash=leaf, size=checkpoint.size)
            if found.leaf_hash != leaf:
                raise VerificationError(
                    f"the log answered with leaf hash {found.leaf_hash.hex()}, want {leaf.hex()}")
        else:
            found = client.inclusion_proof(index=index, size=checkpoint.size)
        if index is not None and found.index != index:
            raise VerificationError(f"the log answered for index {found.index}, want {index}")
        verify_inclusion(self.policy.hasher, found.index, checkpoint.size, found.leaf_hash,
                         found.proof, checkpoint.root)
        receipt = format_tlog_proof(TlogProof(found.index, found.proof, checkpoint.note))
        return VerifiedInclusion(found.index, found.leaf_hash, checkpoint, receipt)

    def checkpoint_at(self, size: int) -> VerifiedCheckpoint:
        """The log's own checkpoint at ``size`` (its signature checked, no quorum needed)."""
        note = self._client().checkpoint_at(size)
        if note is None:
            raise VerificationError(f"the log has no checkpoint of size {size}")
        checked = self.verify_checkpoint(note, require_quorum=False)
        if checked.size != size:
            raise VerificationError(f"asked for the checkpoint of size {size}, got {checked.size}")
        return checked

    def consistency(self, old: VerifiedCheckpoint, new: VerifiedCheckpoint) -> tuple[bytes, ...]:
        """Fetch and check PROOF(old.size, new.size); a failure is an ``InconsistencyError``."""
        if old.size > new.size:
            old, new = new, old
        proof = self._client().consistency_proof(old.size, new.size)
        try:
            verify_consistency(self.policy.hasher, old.size, new.size, proof.proof, old.root,
                               new.root)
        except VerificationError as exc:
            self._inconsistent(
                f"checkpoints of sizes {old.size} and {new.size} are not consistent: {exc}",
                Inconsistency.FORK, old, new)
        return proof.proof
