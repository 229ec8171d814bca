"""The checks of c2sp.org/tlog-witness@v1.0.0 ("add-checkpoint"), with the HEAD changes of
``specs/FORMATS.md`` §5, and cosigning by c2sp.org/tlog-cosignature@v1.0.1.

For each request, in the spec's order (the status codes are in ``witness.status``):

1. parse the body (400), find the origin among the configured logs (404), verify the log's
   signature with the configured keys, ignoring unknown keys (403);
2. old size > checkpoint size (400); old size != the size last cosigned, 0 if never (409, and the
   body says the size);
3. size 0 with a root other than the empty tree's, a non-empty proof from size 0, the same size
   with another root, a consistency proof that does not verify (422);
4. cosign, then compare-and-swap the state from exactly the (size, root) checked in 2-3 (a lost
   race starts over at 2, so the state never rolls back), archive the cosigned note, answer.

A failed archive write fails the request (503) and releases no cosignature: the state has moved
on, but its note is marked unarchived, and neither a repeat of the request nor the monitoring
endpoint hands it out until an archive write of it succeeds.

A validly signed checkpoint that contradicts the state (same size and another root, or no valid
proof from the state) is refused, logged as an error, and the two signed notes are archived as
evidence (``witness.archive``). A checkpoint smaller than the state is only logged: anyone can
replay a log's old checkpoints, and a rolled-back log is caught as a fork when it grows again.
A same-size request within ``refresh_s`` of the last cosignature gets that cosignature again
instead of a new one, so replaying the latest checkpoint cannot grow the archive without bound.

During a key rotation the witness has several active keys (``witness.keys``): each cosigns every
checkpoint, and the answer carries one line per key, so that a log or client that knows either
key finds its line. A stored note that lacks a line by a current key is signed afresh.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from auditlog_tlog.common.clock import Clock, SystemClock
from auditlog_tlog.tree.checkpoint import Checkpoint, parse_checkpoint
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.errors import (
    ConflictError,
    Inconsistency,
    InconsistencyError,
    InvalidRangeError,
    MalformedError,
    NotFoundError,
    PushbackError,
    StorageError,
    VerificationError,
)
from auditlog_tlog.tree.hashing import SHA256, Hasher
from auditlog_tlog.tree.keys import NoteVerifier
from auditlog_tlog.tree.note import (
    MAX_NOTE_SIZE,
    Note,
    format_note,
    parse_note,
    verify_note,
)
from auditlog_tlog.tree.verify import verify_consistency
from auditlog_tlog.tree.witness_protocol import AddCheckpointRequest, split_add_checkpoint
from auditlog_tlog.witness.archive import Archive, cosigned_key, evidence_key
from auditlog_tlog.witness.state import StateStore, WitnessedState

log = logging.getLogger("auditlog.witness")
MAX_ATTEMPTS: Final = 8  # compare-and-swap retries of one request before giving up (503)


class OldSizeConflictError(ConflictError):
    """409: the request's old size is not the size this witness last cosigned (``size``)."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class _LostRace(Exception):
    """The state changed between the checks and the swap: check again."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request checked and cosigned, its new state swapped in but perhaps not durable yet:
    ``lines`` go out only through :meth:`Witness.release`. ``fresh`` is False for a repeat
    answer (the stored cosignature of the same checkpoint; ``ticket`` 0)."""

    state: WitnessedState
    lines: bytes
    ticket: int
    fresh: bool


def read_add_checkpoint(body: bytes) -> tuple[int, tuple[bytes, ...], Note]:
    """An add-checkpoint body (``tree.witness_protocol``) as old size, proof and the parsed
    note, ``MalformedError`` (400) otherwise: ``parse_add_checkpoint`` checks the same, but
    builds an ``AddCheckpointRequest`` that holds the note as bytes (parsed three times)."""
    old_size, proof, signed = split_add_checkpoint(body)
    return old_size, proof, parse_note(signed)


@dataclass(frozen=True, slots=True)
class WitnessedLog:
    """A log this witness cosigns for: its origin and the verifier keys of its signatures."""

    origin: str
    verifiers: tuple[NoteVerifier, ...]
    hasher: Hasher = SHA256

    def __post_init__(self) -> None:
        if not self.verifiers:
            raise ValueError(f"log {self.origin}: want at least one verifier key")
        ids = [(v.name, bytes(v.key_id)) for v in self.verifiers]
        if len(set(ids)) != len(ids):
            raise ValueError(f"log {self.origin}: the same key (name and key ID) twice")


def origin_hash(origin: str) -> str:
    return hashlib.sha256(origin.encode()).hexdigest()


class Witness:
    def __init__(
        self,
        signers: Sequence[CosignatureSigner],
        logs: Sequence[WitnessedLog],
        state: StateStore,
        archive: Archive,
        clock: Clock | None = None,
        refresh_s: float = 60.0,
    ) -> None:
        self.signers = tuple(signers)
        if not self.signers:
            raise ValueError("want at least one witness key")
        self._mine = [(s.name, bytes(s.key_id)) for s in self.signers]
        if len(set(self._mine)) != len(self._mine):
            raise ValueError("the same witness key (name and key ID) twice")
        self._logs = {entry.origin: entry for entry in logs}
        if len(self._logs) != len(logs):
            raise ValueError("the same log origin is configured twice")
        self._by_hash = {origin_hash(o): o for o in self._logs}
        self._state = state
        self._archive = archive
        self._clock = clock or SystemClock()
        self._refresh_s = refresh_s
        self._unarchived: dict[str, bytes] = {}  # origin -> state note whose archiving failed
        self._lock = threading.Lock()

    @property
    def signer(self) -> CosignatureSigner:
        """The first active key (the one to name when only one is named)."""
        return self.signers[0]

    @property
    def origins(self) -> list[str]:
        return sorted(self._logs)

    def state_of(self, origin: str) -> WitnessedState | None:
        return self._state.load(origin)

    def is_cosigned_by_me(self, note: bytes) -> bool:
        """Whether ``note`` carries a line by one of this witness's active keys (by name and key
        ID, not verified). One is enough: during a rotation a log may know only one of them."""
        present = {(s.name, bytes(s.key_id)) for s in parse_note(note).signatures}
        return any(me in present for me in self._mine)

    # -- add-checkpoint ------------------------------------------------------------------------
    def add_checkpoint(self, body: bytes) -> bytes:
        """Handle an add-checkpoint body; returns the cosignature line(s) or raises."""
        return self.release(self.prepare(body))

    def process(self, req: AddCheckpointRequest) -> bytes:
        """Handle a parsed request (pull mode); returns the cosignature line(s) or raises."""
        note = parse_note(req.checkpoint)
        return self.release(self._prepare(req.old_size, req.proof, note,
                                          parse_checkpoint(note.text)))

    def prepare(self, body: bytes) -> Prepared:
        """Steps 1-4 of the module docstring up to the swap, which need not be durable yet:
        :meth:`release` waits for that before it hands the lines out."""
        old_size, proof, note = read_add_checkpoint(body)
        return self._prepare(old_size, proof, note, parse_checkpoint(note.text))

    def release(self, prepared: Prepared) -> bytes:
        """The cosignature lines of ``prepared``, once its state is durable and its note
        archived (``StorageError`` if either fails: nothing is released)."""
        self._state.sync(prepared.ticket)
        if prepared.fresh:
            self._archive_state(prepared.state)
            log.debug("cosigned %s at size %d", prepared.state.origin, prepared.state.size)
        else:
            self._ensure_archived(prepared.state)
        return prepared.lines

    def _prepare(self, old_size: int, proof: tuple[bytes, ...], note: Note,
                 checkpoint: Checkpoint) -> Prepared:
        entry = self._logs.get(checkpoint.origin)
        if entry is None:
            raise NotFoundError(f"unknown origin {checkpoint.origin[:200]!r}: not witnessed here")
        opened = verify_note(note, entry.verifiers)  # 403 unless a trusted signature verifies
        if old_size > checkpoint.size:
            raise InvalidRangeError(
                f"old size {old_size} is larger than the checkpoint size {checkpoint.size}"
            )
        # The trusted lines, each once: a note may repeat the log's line up to the 100 lines it
        # may hold (verified once, tree.note), and would be too long to store once the witness
        # adds its own.
        trusted = {(v.name, bytes(v.key_id)) for v in opened.verified}
        signed = Note(note.text, tuple(dict.fromkeys(
            s for s in note.signatures if (s.name, s.key_id) in trusted)))
        for _ in range(MAX_ATTEMPTS):
            try:
                return self._cosign(entry, old_size, proof, checkpoint, signed)
            except _LostRace:
                continue
        raise PushbackError(f"state of {checkpoint.origin} is contended; retry", retry_after=1)

    def _cosign(
        self, entry: WitnessedLog, old_size: int, proof: tuple[bytes, ...], cp: Checkpoint,
        signed: Note,
    ) -> Prepared:
        state = self._state.load(entry.origin)
        size0, root0 = (state.size, state.root) if state else (0, entry.hasher.empty_root())
        if old_size != size0:
            if state is not None and cp.size == size0 and cp.root != root0:
                # Signed proof of a fork whatever the old size: kept, though the answer is 409.
                self._evidence(entry, "same size, another root", state, signed, old_size, proof)
            elif cp.size < size0:
                log.warning("log %s presented size %d, below the size %d cosigned (a replay, or "
                            "a rollback)", entry.origin, cp.size, size0)
            raise OldSizeConflictError(
                f"old size {old_size}, but this witness last cosigned size {size0}", size0
            )
        if cp.size == 0 and cp.root != entry.hasher.empty_root():
            raise InconsistencyError(
                "checkpoint of size 0 has a root other than the empty tree's",
                kind=Inconsistency.FORK,
            )
        if old_size == 0 and proof:
            raise InconsistencyError(
                f"proof from old size 0: got {len(proof)} hashes, want none",
                kind=Inconsistency.FORK,
            )
        if state is not None and cp.size == size0 and cp.root != root0:
            self._evidence(entry, "same size, another root", state, signed, old_size, proof)
            raise InconsistencyError(
                f"size {cp.size} was cosigned with root {base64.b64encode(root0).decode()}, got "
                f"{base64.b64encode(cp.root).decode()}: the log forked",
                kind=Inconsistency.FORK,
            )
        try:
            verify_consistency(entry.hasher, size0, cp.size, proof, root0, cp.root)
        except VerificationError as exc:
            if state is not None and cp.size > size0:  # not the checkpoint cosigned, sent back
                self._evidence(entry, f"consistency proof failed: {exc}", state, signed,
                               old_size, proof)
            raise InconsistencyError(
                f"consistency proof from size {size0}: {exc}", kind=Inconsistency.FORK
            ) from exc
        if state is not None and cp.size == size0 and (lines := self._recent_lines(state, signed.text)):
            return Prepared(state, lines, 0, fresh=False)
        now = int(self._clock.now())
        signatures = tuple(signer.cosign(signed.text, now) for signer in self.signers)
        cosigned = format_note(Note(signed.text, (*signed.signatures, *signatures)))
        if len(cosigned) > MAX_NOTE_SIZE:
            raise MalformedError(f"cosigned checkpoint would be {len(cosigned)} bytes, want at "
                                 f"most {MAX_NOTE_SIZE}")
        new = WitnessedState(entry.origin, cp.size, cp.root, cosigned)
        try:
            ticket = self._state.swap(None if state is None else (size0, root0), new,
                                      durable=False)
        except ConflictError:
            raise _LostRace() from None
        return Prepared(new, "".join(signature.line() for signature in signatures).encode(),
                        ticket, fresh=True)

    def _recent_lines(self, state: WitnessedState, text: str) -> bytes | None:
        """Our stored cosignatures of ``text``, one per active key, if all are younger than
        ``refresh_s`` (released once archived: :meth:`release`)."""
        stored = parse_note(state.checkpoint)
        if stored.text != text:
            return None
        by_key = {(s.name, bytes(s.key_id)): s for s in stored.signatures}
        mine = [by_key.get(me) for me in self._mine]
        now = self._clock.now()
        for signature in mine:
            if signature is None:
                return None  # a key added since: sign afresh with every active key
            age = now - int.from_bytes(signature.signature[:8], "big")
            if not 0 <= age < self._refresh_s:
                return None
        return "".join(s.line() for s in mine if s is not None).encode()

    # -- archive -------------------------------------------------------------------------------
    def _archive_state(self, state: WitnessedState) -> None:
        """Archive the state's cosigned note (a no-op if it is there); StorageError if not."""
        try:
            self._archive.put(cosigned_key(state.origin, state.size, state.checkpoint),
                              state.checkpoint)
        except StorageError as exc:
            with self._lock:
                self._unarchived[state.origin] = state.checkpoint
            log.error("archive write failed for %s size %d: %s", state.origin, state.size, exc)
            raise StorageError(
                f"the archive write failed, so nothing was cosigned; retry later ({exc})"
            ) from exc
        with self._lock:
            if self._unarchived.get(state.origin) == state.checkpoint:
                del self._unarchived[state.origin]

    def _ensure_archived(self, state: WitnessedState) -> None:
        """Before a stored note is handed out again: archive it if its first write failed."""
        with self._lock:
            pending = self._unarchived.get(state.origin) == state.checkpoint
        if pending:
            self._archive_state(state)

    def reconcile(self) -> None:
        """At start-up: make sure each origin's stored cosigned note is in the archive."""
        for origin in self._logs:
            state = self._state.load(origin)
            if state is not None and state.checkpoint:
                # On failure it is logged, and the note stays unreleased until archived.
                with contextlib.suppress(StorageError):
                    self._archive_state(state)

    def _evidence(
        self, entry: WitnessedLog, reason: str, state: WitnessedState, presented: Note,
        old_size: int, proof: tuple[bytes, ...],
    ) -> None:
        note = format_note(presented)
        size = parse_checkpoint(presented.text).size
        if size == state.size:  # two roots signed for one size: a fork, whoever sent it
            log.error("FORK: log %s signed a checkpoint of size %d that contradicts the one this "
                      "witness cosigned at that size (%s); archiving the evidence",
                      entry.origin, size, reason)
        else:  # a forked checkpoint, or a bad proof anyone may send: auditlog audit tells
            log.warning("log %s: checkpoint of size %d refused against the one cosigned at size "
                        "%d (%s); archiving the pair for the auditor (a fork if the log's entries "
                        "do not give its root)", entry.origin, size, state.size, reason)
        doc = json.dumps({
            "origin": entry.origin,
            "reason": reason,
            "witnessed": state.checkpoint.decode(),
            "presented": note.decode(),
            "old_size": old_size,
            "proof": [base64.b64encode(h).decode() for h in proof],
        }, indent=1, sort_keys=True).encode()
        try:
            self._archive.put(evidence_key(entry.origin, size, state.checkpoint, note), doc)
        except StorageError as exc:
            log.error("could not archive the evidence against %s: %s", entry.origin, exc)

    # -- monitoring ----------------------------------------------------------------------------
    def latest(self, hex_origin: str) -> bytes:
        """The latest cosigned checkpoint of the origin whose SHA-256 is ``hex_origin``."""
        origin = self._by_hash.get(hex_origin)
        if origin is None:
            raise NotFoundError(f"no witnessed log has SHA-256(origin) = {hex_origin[:64]}")
        state = self._state.load(origin)
        if state is None or not state.checkpoint:
            raise NotFoundError(f"nothing cosigned for {origin} yet")
        self._ensure_archived(state)
        return state.checkpoint
