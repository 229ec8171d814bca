"""The client read subcommands: ``checkpoint``, ``checkpoints``, ``prove``, ``consistency``,
``entries``, ``verify`` (``append`` is in ``client.append``). Each takes the
:class:`~client.context.Context` and returns an exit code; each checks what it prints against
the trusted keys first."""

from __future__ import annotations

import argparse
import base64
import sys
from collections import deque
from pathlib import Path

from auditlog_tlog.client.context import (
    Context,
    NoSuchCheckpointError,
    ReceiptMismatchError,
    ReceiptNotCosignedError,
    UsageError,
    checkpoint_json,
    describe,
    show_entry,
    with_entry,
)
from auditlog_tlog.client.erasure import annotate
from auditlog_tlog.client.filedigest import check_file, is_file_digest, parse_file_digest
from auditlog_tlog.client.ranges import check_range
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.client.search import add_time_range, index_range, spec_of_times
from auditlog_tlog.client.verifier import VerifiedCheckpoint, Verifier
from auditlog_tlog.common.files import write_atomic
from auditlog_tlog.tree.checkpoint import Checkpoint
from auditlog_tlog.tree.errors import VerificationError
from auditlog_tlog.tree.tlogproof import parse_tlog_proof
from auditlog_tlog.tree.verify import verify_inclusion

PAGE = 1000  # entries checked (one inclusion and one consistency proof) before they are printed


# -- reads -------------------------------------------------------------------------------------
def add_checkpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument("--note", action="store_true", help="print the signed note itself")
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for the quorum")


def cmd_checkpoint(ctx: Context) -> int:
    head = ctx.verifier().latest(wait=ctx.args.wait)
    if ctx.args.note and not ctx.json:
        sys.stdout.write(head.note.decode())
        return 0
    ctx.emit(checkpoint_json(head, ctx.policy), describe(head, ctx.policy))
    return 0


def add_checkpoints(p: argparse.ArgumentParser) -> None:
    p.add_argument("--begin", type=int, default=0, help="the smallest size to list (default 0)")
    p.add_argument("--limit", type=int, default=0, help="list at most this many (default: all)")


def cmd_checkpoints(ctx: Context) -> int:
    count = 0
    for size in ctx.reader.checkpoint_sizes(ctx.args.begin):
        ctx.emit({"size": size}, str(size))
        count += 1
        if count == ctx.args.limit:
            break
    ctx.note(f"{count} checkpoint size(s) of {ctx.reader.origin} from {ctx.args.begin}; "
             "'auditlog consistency --from SIZE' takes any of them")
    return 0


def _sizes_near(ctx: Context, size: int) -> str:
    """Which checkpoint sizes exist around ``size``, in a few words (reads a bounded window)."""
    latest = ctx.reader.checkpoint().size
    if size > latest:
        return f"the log's latest checkpoint has size {latest}"
    below: deque[int] = deque(maxlen=3)
    above: list[int] = []
    for s in ctx.reader.checkpoint_sizes(max(0, size - 10_000)):
        if s < size:
            below.append(s)
        elif s > size:
            above.append(s)
            if len(above) == 3:
                break
    near = ", ".join(str(s) for s in [*below, *above]) or "none"
    return f"the nearest sizes it signed are {near} (latest {latest})"


def checkpoint_at(ctx: Context, verifier: Verifier, size: int) -> VerifiedCheckpoint:
    """The log's checkpoint at ``size`` (0: the empty tree), or a ``NoSuchCheckpointError``
    saying which sizes exist."""
    if size < 0:
        raise UsageError(f"size {size}: want 0 or more")
    if size == 0:
        empty = Checkpoint(ctx.policy.origin, 0, ctx.policy.hasher.empty_root())
        return VerifiedCheckpoint(empty, b"", (), True)
    if ctx.reader.checkpoint_at(size) is None:
        raise NoSuchCheckpointError(
            f"the log has no checkpoint of size {size}: {_sizes_near(ctx, size)}. "
            "'auditlog checkpoints' lists every size it signed")
    return verifier.checkpoint_at(size)


def _target(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--index", type=int, help="the entry at this index")
    g.add_argument("--entry", help="the entry with this text")
    g.add_argument("--file", type=Path, help="the entry with this file's bytes")
    g.add_argument("--leaf-hash", help="the entry with this leaf hash (hex)")


def _entry_of(args: argparse.Namespace) -> tuple[bytes | None, bytes | None]:
    """(entry, leaf hash) from --entry/--file/--leaf-hash; both None for --index."""
    if getattr(args, "entry", None) is not None:
        return args.entry.encode(), None
    if getattr(args, "file", None) is not None:
        return args.file.read_bytes(), None
    if getattr(args, "leaf_hash", None) is not None:
        try:
            return None, bytes.fromhex(args.leaf_hash)
        except ValueError:
            raise UsageError(f"--leaf-hash {args.leaf_hash!r}: want 64 hex digits") from None
    return None, None


def add_prove(p: argparse.ArgumentParser) -> None:
    _target(p)
    p.add_argument("--receipt", type=Path, help="also write a receipt (.tlog-proof) here")
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for the quorum")


def cmd_prove(ctx: Context) -> int:
    entry, leaf = _entry_of(ctx.args)
    verifier = ctx.verifier()
    head = verifier.latest(wait=ctx.args.wait)
    found = verifier.prove(index=ctx.args.index, entry=entry, leaf_hash=leaf, at=head)
    if ctx.args.receipt is not None:
        write_atomic(ctx.args.receipt, with_entry(found.receipt, entry))
    ctx.emit(
        {"index": found.index, "leaf_hash": found.leaf_hash.hex(), "receipt": found.receipt.decode(),
         "checkpoint": checkpoint_json(found.checkpoint, ctx.policy)},
        f"entry {found.index} (leaf {found.leaf_hash.hex()}) is in {describe(head, ctx.policy)}",
    )
    return 0


def add_consistency(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--from", dest="size1", type=int, help="the older tree size")
    g.add_argument("--from-checkpoint", type=Path, help="an older signed checkpoint (a file)")
    p.add_argument("--to", dest="size2", type=int, help="the newer size (default: the latest)")


def cmd_consistency(ctx: Context) -> int:
    verifier = ctx.verifier()
    a = ctx.args
    new = checkpoint_at(ctx, verifier, a.size2) if a.size2 is not None else verifier.latest()
    if a.from_checkpoint is not None:
        old = verifier.verify_checkpoint(a.from_checkpoint.read_bytes(), require_quorum=False)
    else:
        old = checkpoint_at(ctx, verifier, a.size1)
    proof = verifier.consistency(old, new)
    ctx.emit({"size1": old.size, "size2": new.size, "root1": old.root.hex(),
              "root2": new.root.hex(), "proof": [h.hex() for h in proof], "consistent": True},
             f"consistent: the tree of size {old.size} is a prefix of the tree of size {new.size} "
             f"({len(proof)} proof hashes)")
    return 0


def add_entries(p: argparse.ArgumentParser) -> None:
    p.add_argument("--begin", type=int, default=0, help="first index (default 0)")
    p.add_argument("--end", type=int, help="one past the last index (default: the log's size)")
    add_time_range(p)


def cmd_entries(ctx: Context) -> int:
    verifier = ctx.verifier()
    head = verifier.latest(require_quorum=False)
    begin = ctx.args.begin
    end = ctx.args.end if ctx.args.end is not None else head.size
    if ctx.args.since or ctx.args.until:  # within --begin/--end, the entries of that time range
        if not isinstance(ctx.reader, LogClient):
            raise UsageError("--since/--until: want the log server (the time map is not in the "
                             "published tiles)")
        times = spec_of_times(ctx.args)
        first, after = index_range(ctx.reader, times.since, times.until)
        begin, end = max(begin, first), max(max(begin, first), min(end, after, head.size))
    if not 0 <= begin <= end <= head.size:
        raise UsageError(f"--begin {begin} --end {end}: want 0 <= begin <= end <= {head.size} "
                         "(the size of the log's latest checkpoint)")
    hasher = ctx.policy.hasher
    page: list[bytes] = []
    first = begin
    for index, entry in ctx.reader.entries(begin, end):
        page.append(entry)
        if len(page) == PAGE or index == end - 1:
            check_range(ctx.reader, hasher, first, page, head.size, head.root)
            for i, checked in enumerate(page, start=first):
                found, remark = annotate(ctx.reader, checked)  # personal fields (erasure.py)
                ctx.emit({"index": i, "entry": base64.b64encode(checked).decode(),
                          "leaf_hash": hasher.hash_leaf(checked).hex(), **(
                              {"addenda": found} if found else {})},
                         f"{i}\t{show_entry(checked)}{remark}")
            first, page = index + 1, []
    return 0


# -- verify (offline) --------------------------------------------------------------------------
def add_verify(p: argparse.ArgumentParser) -> None:
    p.add_argument("receipt", type=Path, help="a receipt (.tlog-proof) or, with --checkpoint, a "
                   "signed checkpoint")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--entry", help="the entry's text (default: the entry inside the receipt)")
    g.add_argument("--file", type=Path, help="the entry's bytes or, when the receipt holds a "
                   "file-digest record (append --hash-only), the file it names")
    g.add_argument("--leaf-hash", help="the entry's leaf hash (hex)")
    g.add_argument("--checkpoint", action="store_true", help="the file is a signed checkpoint")


def cmd_verify(ctx: Context) -> int:
    data = ctx.args.receipt.read_bytes()
    verifier = ctx.verifier(online=False)
    if ctx.args.checkpoint:
        checked = verifier.observe(verifier.verify_checkpoint(data))
        ctx.emit(checkpoint_json(checked, ctx.policy), "OK: " + describe(checked, ctx.policy))
        return 0
    held = parse_tlog_proof(data).extra or None
    if ctx.args.file is not None and held is not None and is_file_digest(held):
        return _verify_file(ctx, verifier, data, held)
    entry, leaf = _entry_of(ctx.args)
    if entry is None and leaf is None:
        entry = held
        if entry is None:
            raise ValueError("the receipt does not hold its entry: give --entry, --file or --leaf-hash")
    _diagnose(verifier, data, entry, leaf, ctx.args.receipt)
    found = verifier.verify_receipt(data, entry=entry, leaf_hash=leaf)
    shown = f"\n  entry: {show_entry(entry)}" if entry is not None else ""
    ctx.emit(
        {"ok": True, "index": found.index, "leaf_hash": found.leaf_hash.hex(),
         "entry": base64.b64encode(entry).decode() if entry is not None else None,
         "checkpoint": checkpoint_json(found.checkpoint, ctx.policy)},
        f"OK: entry {found.index} is in {describe(found.checkpoint, ctx.policy)}{shown}",
    )
    return 0


def _verify_file(ctx: Context, verifier: Verifier, receipt: bytes, record: bytes) -> int:
    """``verify RECEIPT --file BIG``: the receipt proves the file-digest record is in the log;
    the file must have the record's size and SHA-256."""
    _diagnose(verifier, receipt, record, None, ctx.args.receipt)
    found = verifier.verify_receipt(receipt, entry=record)
    digest = parse_file_digest(record)
    check_file(digest, ctx.args.file)
    ctx.emit(
        {"ok": True, "index": found.index, "leaf_hash": found.leaf_hash.hex(),
         "file": {**digest.to_json(), "path": str(ctx.args.file)},
         "checkpoint": checkpoint_json(found.checkpoint, ctx.policy)},
        f"OK: {ctx.args.file} ({digest.size} bytes, SHA-256 {digest.sha256.hex()}) is the file "
        f"logged as {digest.name} ({digest.media_type}) at entry {found.index} of "
        f"{describe(found.checkpoint, ctx.policy)}",
    )
    return 0


def _diagnose(verifier: Verifier, receipt: bytes, entry: bytes | None, leaf: bytes | None,
              path: Path) -> None:
    """Name the part of a receipt that fails, before ``verify_receipt`` checks it all: a
    checkpoint that lacks only the witness quorum (a receipt written at append time), or a
    proof that does not lead from the entry to the checkpoint's root (an altered receipt)."""
    proof = parse_tlog_proof(receipt)
    checked = verifier.verify_checkpoint(proof.checkpoint, require_quorum=False)
    leaf_hash = leaf if leaf is not None else verifier.policy.hasher.hash_leaf(entry or b"")
    try:
        verify_inclusion(verifier.policy.hasher, proof.index, checked.size, leaf_hash,
                         proof.proof, checked.root)
    except VerificationError as exc:
        raise ReceiptMismatchError(
            f"{path} does not match its checkpoint: the entry and proof give another root than "
            f"the signed checkpoint of size {checked.size} ({exc}). The receipt, or the entry "
            "given with it, was altered or corrupted") from None
    if not checked.quorum_met:
        raise ReceiptNotCosignedError(
            f"{path} is signed by the log but its checkpoint (size {checked.size}) has "
            f"{len(checked.witnesses)} of the {verifier.policy.quorum} witness cosignatures "
            "required: it was written at append time, before witnesses cosigned. Get one on a "
            f"cosigned checkpoint with 'auditlog prove --leaf-hash {leaf_hash.hex()} --receipt "
            f"{path}'")
