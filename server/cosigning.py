"""The log's keeper of witness cosignatures (c2sp.org/tlog-cosignature@v1.0.1; step 4 of an
entry's flow): which witnesses a log has, their k-of-n quorum, and verifying and
attaching the cosignatures that push- and pull-mode witnesses give it.

:meth:`LogWitnesses.attach` verifies cosignature lines against the checkpoint stored at a size
(only configured witness keys, only valid signatures; anything else is refused, so an attached
line is always a verified one), keeps one line per witness (the newest timestamp) and stores
the note again. It is called in the log's writer thread (``Sequencer.attach_cosignatures``), the
one thread that writes a log's store. ``GetCheckpoint`` then serves the cosigned checkpoint, and
:meth:`LogWitnesses.wait_for_quorum` lets a caller wait for one that meets the quorum.

Key rotation: a witness rotating its key answers with one line per active key. The log keeps
the lines by the keys it is configured with and ignores the others, so a log configured with
either the old or the new key keeps working during the overlap.
"""

from __future__ import annotations

import threading
import time
from typing import Final, Protocol

from auditlog_tlog.server.config import LogConfig
from auditlog_tlog.tree.cosignature import CosignatureVerifier
from auditlog_tlog.tree.errors import (
    MalformedError,
    NotFoundError,
    PermissionDeniedError,
    VerificationError,
)
from auditlog_tlog.tree.note import Note, Signature, format_note, parse_note, parse_signature_lines

MAX_COSIGNATURE_BYTES: Final = 16 * 1024  # signature lines in one AddCosignature or response


class CheckpointStore(Protocol):
    """The checkpoints of one log, as cosigning reads and rewrites them (LogStore is one)."""

    checkpoint_size: int

    def checkpoint(self, size: int | None = None) -> bytes | None: ...

    def store_checkpoint(self, size: int, checkpoint: bytes) -> None: ...


def _timestamp(sig: Signature) -> int:
    return int.from_bytes(sig.signature[:8], "big")


class LogWitnesses:
    """One log's witnesses: verify and attach their cosignatures; the k-of-n policy."""

    def __init__(self, config: LogConfig) -> None:
        self.origin = config.origin
        self.keys = tuple(w.vkey for w in config.witnesses)
        self.quorum = config.quorum
        verifiers = [CosignatureVerifier.from_vkey(vkey) for vkey in self.keys]
        self._verifiers = {(v.name, bytes(v.key_id)): v for v in verifiers}
        self._lock = threading.Condition()
        self._quorum_note: tuple[int, bytes] | None = None  # the latest that met the quorum
        self._cosigned: dict[str, int] = {}  # witness name -> latest size it cosigned (metrics)

    def cosigned_sizes(self) -> dict[str, int]:
        """Witness name -> the latest size whose cosignature by it was attached (metrics)."""
        with self._lock:
            return dict(self._cosigned)

    def quorum_size(self) -> int:
        """The latest size known to carry ``quorum`` cosignatures, 0 if none yet (metrics)."""
        with self._lock:
            return self._quorum_note[0] if self._quorum_note is not None else 0

    def verifier(self, vkey: str) -> CosignatureVerifier:
        v = CosignatureVerifier.from_vkey(vkey)
        return self._verifiers[(v.name, bytes(v.key_id))]

    def attached(self, note: bytes) -> list[str]:
        """Names of the configured witnesses with a line on ``note`` (attach verified them)."""
        return [s.name for s in parse_note(note).signatures if (s.name, s.key_id) in self._verifiers]

    def attach(self, store: CheckpointStore, size: int, lines: bytes) -> list[str]:
        """Verify cosignature lines of the checkpoint at ``size`` and store them with it.

        Lines by keys this log does not know are skipped, as long as one line is by a key it
        knows (a witness rotating its key signs with the old and the new one); a line by a known
        key that does not verify fails the whole call. Returns the names of every witness whose
        cosignature is now attached to it.
        """
        if len(lines) > MAX_COSIGNATURE_BYTES:
            raise MalformedError(
                f"signatures: got {len(lines)} bytes, want at most {MAX_COSIGNATURE_BYTES}"
            )
        if not self._verifiers:
            raise PermissionDeniedError(f"log {self.origin} has no witnesses configured")
        given = parse_signature_lines(lines, MAX_COSIGNATURE_BYTES)
        if given and not any((sig.name, sig.key_id) in self._verifiers for sig in given):
            sig = given[0]
            raise PermissionDeniedError(
                f"cosignature by {sig.name}+{sig.key_id.hex()}: not a witness of log "
                f"{self.origin} (want one of {', '.join(self.keys)})"
            )
        with self._lock:  # one read-modify-write of the stored note at a time
            note = store.checkpoint(size) if size <= store.checkpoint_size else None
            if note is None:
                raise NotFoundError(f"log {self.origin} has no checkpoint at size {size}")
            parsed = parse_note(note)
            message = parsed.text.encode()
            fresh: dict[tuple[str, bytes], Signature] = {}
            for sig in given:
                ident = (sig.name, sig.key_id)
                verifier = self._verifiers.get(ident)
                if verifier is None:
                    continue  # another key of a rotating witness, or of a stranger: not ours
                if not verifier.verify(message, sig.signature):
                    raise VerificationError(
                        f"cosignature by {sig.name} does not verify for the checkpoint at size {size}"
                    )
                fresh[ident] = sig
            kept: list[Signature] = []
            for sig in parsed.signatures:
                new = fresh.get((sig.name, sig.key_id))
                if new is not None and _timestamp(new) <= _timestamp(sig):
                    del fresh[(sig.name, sig.key_id)]  # the stored one is as new: keep it
                    kept.append(sig)
                elif new is None:
                    kept.append(sig)
            updated = format_note(Note(parsed.text, (*kept, *fresh.values())))
            if updated != note:
                store.store_checkpoint(size, updated)
            names = self.attached(updated)
            for name in names:
                self._cosigned[name] = max(size, self._cosigned.get(name, 0))
            if len(names) >= self.quorum and size >= (self._quorum_note or (-1, b""))[0]:
                self._quorum_note = (size, updated)
                self._lock.notify_all()
            return names

    def wait_for_quorum(
        self, store: CheckpointStore, min_size: int, timeout_s: float
    ) -> tuple[int, bytes] | None:
        """(size, note) of the latest checkpoint of at least ``min_size`` entries that carries
        cosignatures of ``quorum`` witnesses, waiting up to ``timeout_s`` for one (blocking: call
        it in a thread); None on timeout. For receipts that should say which witnesses signed.
        """
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                if self._quorum_note is None or self._quorum_note[0] < min_size:
                    latest = store.checkpoint()
                    if latest is not None and len(self.attached(latest)) >= self.quorum:
                        self._quorum_note = (store.checkpoint_size, latest)
                found = self._quorum_note
                if found is not None and found[0] >= min_size:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(remaining)
