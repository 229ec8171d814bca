"""The log's checkpoint signer (c2sp.org/tlog-checkpoint): the only holder of the log's key.

The log must never sign two checkpoints that are not consistent with each other. We make that
structural: :class:`CheckpointSigner` remembers the last tree head it signed and signs a new one
only with an RFC 6962 consistency proof from that head, which it verifies itself. There is no
other way to get a signature out of it, so a storage bug or a rewritten tree cannot get a
conflicting checkpoint signed; it gets a ``VerificationError`` instead.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from auditlog_tlog.tree.checkpoint import Checkpoint
from auditlog_tlog.tree.hashing import Hasher
from auditlog_tlog.tree.keys import NoteSigner
from auditlog_tlog.tree.note import sign_note
from auditlog_tlog.tree.verify import verify_consistency


class CheckpointSigner:
    def __init__(
        self, origin: str, hasher: Hasher, signers: Sequence[NoteSigner], size: int, root: bytes
    ) -> None:
        if not signers:
            raise ValueError("a checkpoint signer needs at least one key")
        self._origin = origin
        self._hasher = hasher
        self._signers = tuple(signers)
        self._last = (size, root)
        self._lock = threading.Lock()

    @property
    def last(self) -> tuple[int, bytes]:
        """(size, root) of the last tree head signed (or loaded from storage at start)."""
        return self._last

    def sign(self, size: int, root: bytes, proof: Sequence[bytes]) -> bytes:
        """Sign the checkpoint (size, root), given PROOF(last size, size); raises
        ``VerificationError`` if it is not consistent with the last head signed."""
        with self._lock:
            last_size, last_root = self._last
            verify_consistency(self._hasher, last_size, size, proof, last_root, root)
            note = sign_note(Checkpoint(self._origin, size, root).to_text(), self._signers)
            self._last = (size, root)
            return note
