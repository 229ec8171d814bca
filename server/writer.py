"""The one writer of a log's store, and the one operation that signs its tree head
(c2sp.org/tlog-checkpoint; docs/anchors.md).

A :class:`LogWriter` is called only from its log's writer thread (the sequencer's), so a log's
database has exactly one writer: batches, checkpoints and attached cosignatures all go through
it. :meth:`LogWriter.sign_head` is the only way a checkpoint gets signed, used for batches, for
the idle tail and at open, always in this order::

    local tree committed (entries durable)
      -> every anchor equals or is extended by the local tree (else the log halts)
      -> PROOF(last signed size, size), checked by the signer, which signs
      -> the note appended to the anchor file and fsynced
      -> the note stored in the database as the latest checkpoint

Entries are durable before their checkpoint is signed, so a crash at any point leaves a
database whose tree equals or extends every checkpoint signed so far; the signed note is in the
anchor file before anyone can read it from the database.

Overlapped signing (``append(..., overlap=True)``, the sequencer's batches): the anchor file's
fsync of batch N's checkpoint runs in the anchor thread while the writer thread commits batch
N+1; the writer then waits for it (:meth:`LogWriter.settle`) and stores checkpoint N before it
signs N+1. The order above holds for every checkpoint, at most one is in the anchor thread at a
time, and a caller is answered only once its batch's checkpoint is stored::

    writer thread:  commit N | sign N | commit N+1 ....... | store N | sign N+1 | commit N+2 ...
    anchor thread:                    | append+fsync N ... |                    | append+fsync N+1
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from auditlog_tlog.server.anchors import (
    Anchor,
    AnchorFile,
    LogHaltedError,
    check_anchor,
    check_witness_size,
    checkpoint_of,
)
from auditlog_tlog.server.signer import CheckpointSigner
from auditlog_tlog.storage.addenda import AddendaChange
from auditlog_tlog.storage.batch import AppendOutcome, PreparedBatch
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.errors import CorruptionError, VerificationError
from auditlog_tlog.tree.keys import NoteSigner


class LogWriter:
    def __init__(
        self,
        store: LogStore,
        signers: Sequence[NoteSigner],
        anchor_file: AnchorFile,
        anchors: Sequence[Anchor] = (),
        on_halt: Callable[[LogHaltedError], None] = lambda exc: None,
    ) -> None:
        self.store = store
        self._file = anchor_file
        self._anchors: tuple[Anchor, ...] = (anchor_file, *anchors)
        self._on_halt = on_halt
        self._verified: dict[str, bytes] = {}  # anchor name -> the note last found consistent
        self._witness_sizes: dict[str, int] = {}
        self.halted: LogHaltedError | None = None
        # (size, note, its append to the anchor file) signed and not stored yet; at most one.
        self._in_flight: tuple[int, bytes, Future[None]] | None = None
        self._anchoring = ThreadPoolExecutor(1, thread_name_prefix=f"anchor-{store.origin}")
        db_note, file_note = store.checkpoint(), anchor_file.latest()
        last = max((checkpoint_of(n) for n in (db_note, file_note) if n is not None),
                   key=lambda cp: cp.size, default=None)
        size, root = (0, store.hasher.empty_root()) if last is None else (last.size, last.root)
        self.signer = CheckpointSigner(store.origin, store.hasher, signers, size, root)

    # -- open ----------------------------------------------------------------------------------
    def open(self) -> None:
        """Check every anchor; put back a checkpoint the database lost; sign an unsigned tail.

        A halted log stays open for reads; ``halted`` says why it refuses to append and sign.
        """
        store = self.store
        db_note = store.checkpoint()
        if db_note is not None:
            cp = checkpoint_of(db_note)
            if cp.size == store.size and cp.root != store.root:
                raise CorruptionError(
                    f"the latest checkpoint (size {cp.size}) has root {cp.root.hex()}, the stored "
                    f"tree has {store.root.hex()}"
                )
        try:
            self.check_anchors()
        except LogHaltedError:
            return
        file_note = self._file.latest()
        db_size = -1 if db_note is None else store.checkpoint_size
        file_size = -1 if file_note is None else checkpoint_of(file_note).size
        if file_note is not None and file_size > db_size:
            store.commit_checkpoint(file_size, file_note)  # signed, but the db crashed before it
        elif db_note is not None and db_size > file_size:
            self._file.append(db_note)  # a database from before anchor files, or a lost file
            self._verified[self._file.name] = db_note
        if store.checkpoint() is None or store.checkpoint_size < store.size:
            self.sign_head()

    # -- writes (the writer thread only) -------------------------------------------------------
    def append(self, entries: Sequence[bytes], dedup: bool, sign: bool,
               addenda: Sequence[Sequence[tuple[bytes, bytes]]] = (),
               overlap: bool = False) -> PreparedBatch:
        """Commit a batch durably; then, if ``sign``, sign the tree that covers it. Returns the
        batch, whose columns say where each entry landed.

        ``addenda``: empty, or for each entry its checked (digest, bytes) pairs, stored with the
        batch (server/erasure.py); one erased before stays erased and is not stored again.
        ``overlap``: the checkpoint goes to the anchor file in the anchor thread and is stored
        by the next :meth:`settle` (``in_flight`` says its size until then), which the next
        append calls after its commit."""
        self.refuse_if_halted()
        batch = self.store.prepare(entries, dedup)
        if any(addenda):
            digests = [d for pairs in addenda for d, _ in pairs]
            erased = {d for d, e in zip(digests, self.store.addenda.erased_many(digests),
                                        strict=True) if e is not None}
            batch.addenda = AddendaChange(puts=tuple(
                (index, digest, data)
                for index, pairs in zip(batch.indexes, addenda, strict=True)
                for digest, data in pairs if digest not in erased
            ))
        if batch.entries or batch.addenda is not None:
            self.store.commit(batch)
        self.settle()  # the anchor file's fsync ran during the commit's
        if sign and self.store.size > self.store.checkpoint_size:
            self._sign(overlap)
        return batch

    @property
    def in_flight(self) -> int | None:
        """The size of the checkpoint signed whose append to the anchor file is under way."""
        return None if self._in_flight is None else self._in_flight[0]

    def settle(self) -> None:
        """Wait until the checkpoint in flight is durable in the anchor file; store it."""
        if self._in_flight is None:
            return
        size, note, appended = self._in_flight
        self._in_flight = None
        appended.result()  # the anchor file's StorageError, if it failed
        self._stored(size, note)

    def erase(self, record: bytes, index: int, digests: Sequence[bytes]) -> AppendOutcome:
        """Append the erasure ``record`` and delete the addenda ``digests`` of entry ``index``
        in one WriteBatch, sign the tree that holds the record, then purge the deleted bytes
        from the database's files (server/erasure.py)."""
        self.refuse_if_halted()
        batch = self.store.prepare([record], dedup=False)
        (outcome,) = batch.outcomes
        batch.addenda = AddendaChange(erasures=tuple((d, index, outcome.index) for d in digests))
        self.store.commit(batch)
        self.sign_head()
        self.store.addenda.purge()
        return outcome

    def sign_head(self) -> bytes:
        """Sign the committed tree and store the checkpoint: the one signing operation."""
        self.settle()
        return self._sign(overlap=False)

    def _sign(self, overlap: bool) -> bytes:
        """Sign the committed tree; append the note to the anchor file (in the anchor thread
        with ``overlap``, stored by :meth:`settle`) and store it once durable there."""
        self.refuse_if_halted()
        store = self.store
        self.check_anchors()
        size, root = store.size, store.root
        try:
            proof = store.consistency_proof(self.signer.last[0], size)
            note = self.signer.sign(size, root, proof)
        except (VerificationError, CorruptionError) as exc:
            halted = LogHaltedError(
                f"the local tree (size {size}, root {root.hex()}) does not extend the last "
                f"checkpoint signed (size {self.signer.last[0]}): {exc}", self._file.name,
                (self._file.latest() or b"", store.checkpoint() or b""),
            )
            self._halt(halted)
            raise halted from exc
        if overlap:
            self._in_flight = (size, note, self._anchoring.submit(self._file.append, note))
        else:
            self._file.append(note)
            self._stored(size, note)
        return note

    def _stored(self, size: int, note: bytes) -> None:
        """Store a checkpoint that is durable in the anchor file already: after a power loss,
        open() puts it back, so the database's write is not synced."""
        self._verified[self._file.name] = note
        self.store.commit_checkpoint(size, note, sync=False)

    def close(self) -> None:
        """Store the checkpoint in flight, if any, and stop the anchor thread."""
        try:
            self.settle()
        finally:
            self._anchoring.shutdown(wait=True)

    def report_witness_size(self, witness: str, size: int) -> None:
        """Remember the size a witness says it cosigned; beyond the tree, the log halts."""
        self._witness_sizes[witness] = max(size, self._witness_sizes.get(witness, 0))
        with contextlib.suppress(LogHaltedError):  # ``halted`` and the log output say so
            self.check_anchors()

    def check_anchors(self) -> None:
        """Raise (and halt) unless the local tree equals or extends every anchor."""
        self.refuse_if_halted()
        try:
            for anchor in self._anchors:
                note = anchor.latest()
                if note is None or self._verified.get(anchor.name) == note:
                    continue  # the tree has only grown by signed appends since it was checked
                check_anchor(self.store.hasher, self.store, anchor.name, note)
                self._verified[anchor.name] = note
            for witness, size in list(self._witness_sizes.items()):
                check_witness_size(self.store, witness, size)
        except LogHaltedError as exc:
            self._halt(exc)
            raise

    def refuse_if_halted(self) -> None:
        """Raise the reason the log is halted (a fresh exception each time), if it is."""
        if self.halted is not None:
            raise LogHaltedError(str(self.halted), self.halted.anchor, self.halted.evidence)

    def _halt(self, exc: LogHaltedError) -> None:
        if self.halted is None:
            self.halted = exc
            self._on_halt(exc)
