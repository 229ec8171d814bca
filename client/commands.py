"""The client subcommands: ``append``, ``checkpoint``, ``prove``, ``consistency``, ``entries``,
``verify``. Each takes the :class:`~client.context.Context` and returns an exit code."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auditlog_tlog.client.context import Context, checkpoint_json, describe, show_entry, with_entry
from auditlog_tlog.client.event import AuditEvent, event_from_json
from auditlog_tlog.client.sdk import AppendResult
from auditlog_tlog.client.verifier import VerifiedCheckpoint
from auditlog_tlog.common.files import write_atomic
from auditlog_tlog.tree.checkpoint import Checkpoint
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.tlogproof import parse_tlog_proof


# -- append ------------------------------------------------------------------------------------
def add_append(p: argparse.ArgumentParser) -> None:
    what = p.add_argument_group("the entry (one of)")
    what.add_argument("text", nargs="?", help="the entry: this text, UTF-8")
    what.add_argument("--file", type=Path, help="the entry: this file's bytes")
    what.add_argument("--jsonl", action="store_true",
                      help="many entries: one audit event (JSON object) per line of stdin")
    what.add_argument("--lines", action="store_true", help="many entries: each line of stdin")
    ev = p.add_argument_group("the entry as an audit event (canonical JSON)")
    ev.add_argument("--actor")
    ev.add_argument("--action")
    ev.add_argument("--resource")
    ev.add_argument("--outcome", default="success")
    ev.add_argument("--source", default="")
    ev.add_argument("--request-id", default="")
    ev.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE",
                    help="a string attribute (repeatable; use --jsonl for numbers and booleans)")
    out = p.add_argument_group("receipts")
    out.add_argument("--receipt", type=Path, help="write the receipt here (default: stdout)")
    out.add_argument("--receipt-dir", type=Path, help="many entries: write <index>.tlog-proof here")
    out.add_argument("--no-receipt", action="store_true", help="do not ask for a receipt")
    out.add_argument("--detached", action="store_true",
                     help="leave the entry out of the receipt (verify it with --file/--entry)")
    out.add_argument("--wait", type=float, default=30.0,
                     help="seconds to wait for the witness quorum on the receipt (default 30)")


def _event(args: argparse.Namespace) -> AuditEvent:
    attributes: dict[str, str] = {}
    for item in args.attr:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--attr {item!r}: want KEY=VALUE")
        attributes[key] = value
    missing = [f"--{n}" for n in ("actor", "action", "resource") if not getattr(args, n)]
    if missing:
        raise ValueError(f"an audit event needs {', '.join(missing)} too")
    return AuditEvent(args.actor, args.action, args.resource, args.outcome,
                      source=args.source, request_id=args.request_id, attributes=attributes)


def cmd_append(ctx: Context) -> int:
    a = ctx.args
    modes = [a.text is not None, a.file is not None, a.jsonl, a.lines,
             any((a.actor, a.action, a.resource))]
    if sum(modes) != 1:
        raise ValueError("give exactly one entry: TEXT, --file, --jsonl, --lines or --actor/--action"
                         "/--resource")
    if a.jsonl or a.lines:
        return _append_many(ctx)
    if a.file is not None:
        entry = a.file.read_bytes()
    elif a.text is not None:
        entry = a.text.encode()
    else:
        entry = _event(a).encode()
    result = ctx.client.append(entry, receipt=not a.no_receipt)
    receipt = b""
    if not a.no_receipt:
        receipt = _final_receipt(ctx, result, entry)
        if not a.detached:
            receipt = with_entry(receipt, entry)
        if a.receipt is not None:
            write_atomic(a.receipt, receipt)
    if ctx.json or (receipt and a.receipt is None):  # else stdout stays empty
        ctx.emit(
            {"index": result.index, "leaf_hash": result.leaf_hash.hex(),
             "duplicate": result.duplicate, "receipt": receipt.decode(),
             "receipt_file": str(a.receipt) if a.receipt else None},
            receipt.decode().rstrip("\n"),
        )
    duplicate = " (it was in the log already: dedup)" if result.duplicate else ""
    where = f"; receipt in {a.receipt}" if a.receipt is not None and receipt else ""
    ctx.note(f"appended entry {result.index} to {ctx.client.origin}{duplicate}{where}")
    return 0


def _final_receipt(ctx: Context, result: AppendResult, entry: bytes) -> bytes:
    """The log's receipt, or, when witnesses must cosign, one on a cosigned checkpoint."""
    if not ctx.settings.log_keys:
        return result.receipt  # nothing to verify it with; the user can run 'verify' later
    verifier = ctx.verifier()
    if ctx.policy.quorum == 0:
        verifier.verify_receipt(result.receipt, entry=entry)
        return result.receipt
    head = verifier.latest(require_quorum=False)
    if not head.quorum_met or head.size <= result.index:
        ctx.note(f"waiting up to {ctx.args.wait:g} s for {ctx.policy.quorum} witness "
                 "cosignature(s) on a checkpoint that covers the entry")
        head = verifier.latest(wait=ctx.args.wait, min_size=result.index + 1)
    return verifier.prove(entry=entry, at=head).receipt


def _stdin_entries(jsonl: bool) -> Iterator[bytes]:
    for number, line in enumerate(sys.stdin.buffer, start=1):
        line = line.rstrip(b"\n")
        if not line:
            continue
        if not jsonl:
            yield line
            continue
        try:
            yield event_from_json(json.loads(line)).encode()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedError(f"stdin line {number}: not JSON: {exc}") from None
        except MalformedError as exc:
            raise MalformedError(f"stdin line {number}: {exc}") from None


def _append_many(ctx: Context) -> int:
    a = ctx.args
    want = a.receipt_dir is not None
    if a.receipt is not None:
        raise ValueError("--receipt is for one entry; with many use --receipt-dir DIR")
    if want:
        a.receipt_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for result in ctx.client.append_stream(_stdin_entries(a.jsonl), receipt=want):
        count += 1
        path = None
        if want:
            path = a.receipt_dir / f"{result.index}.tlog-proof"
            write_atomic(path, result.receipt)
        flag = "\tduplicate" if result.duplicate else ""
        ctx.emit({"index": result.index, "leaf_hash": result.leaf_hash.hex(),
                  "duplicate": result.duplicate, "receipt_file": str(path) if path else None},
                 f"{result.index}\t{result.leaf_hash.hex()}{flag}")
    ctx.note(f"appended {count} entries to {ctx.client.origin}")
    return 0


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
            raise ValueError(f"--leaf-hash {args.leaf_hash!r}: want 64 hex digits") from None
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
    new = verifier.checkpoint_at(a.size2) if a.size2 is not None else verifier.latest()
    if a.from_checkpoint is not None:
        old = verifier.verify_checkpoint(a.from_checkpoint.read_bytes(), require_quorum=False)
    else:
        old = _checkpoint_or_empty(ctx, a.size1)
    proof = verifier.consistency(old, new)
    ctx.emit({"size1": old.size, "size2": new.size, "root1": old.root.hex(),
              "root2": new.root.hex(), "proof": [h.hex() for h in proof], "consistent": True},
             f"consistent: the tree of size {old.size} is a prefix of the tree of size {new.size} "
             f"({len(proof)} proof hashes)")
    return 0


def _checkpoint_or_empty(ctx: Context, size: int) -> VerifiedCheckpoint:
    if size == 0:
        empty = Checkpoint(ctx.policy.origin, 0, ctx.policy.hasher.empty_root())
        return VerifiedCheckpoint(empty, b"", (), True)
    return ctx.verifier().checkpoint_at(size)


def add_entries(p: argparse.ArgumentParser) -> None:
    p.add_argument("--begin", type=int, default=0, help="first index (default 0)")
    p.add_argument("--end", type=int, help="one past the last index (default: the log's size)")


def cmd_entries(ctx: Context) -> int:
    client = ctx.client
    end = ctx.args.end if ctx.args.end is not None else client.checkpoint().size
    hasher = ctx.policy.hasher if ctx.settings.log_keys else None
    for index, entry in client.entries(ctx.args.begin, end):
        obj: dict[str, Any] = {"index": index, "entry": base64.b64encode(entry).decode()}
        if hasher is not None:
            obj["leaf_hash"] = hasher.hash_leaf(entry).hex()
        ctx.emit(obj, f"{index}\t{show_entry(entry)}")
    return 0


# -- verify (offline) --------------------------------------------------------------------------
def add_verify(p: argparse.ArgumentParser) -> None:
    p.add_argument("receipt", type=Path, help="a receipt (.tlog-proof) or, with --checkpoint, a "
                   "signed checkpoint")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--entry", help="the entry's text (default: the entry inside the receipt)")
    g.add_argument("--file", type=Path, help="the entry's bytes")
    g.add_argument("--leaf-hash", help="the entry's leaf hash (hex)")
    g.add_argument("--checkpoint", action="store_true", help="the file is a signed checkpoint")


def cmd_verify(ctx: Context) -> int:
    data = ctx.args.receipt.read_bytes()
    verifier = ctx.verifier(online=False)
    if ctx.args.checkpoint:
        checked = verifier.observe(verifier.verify_checkpoint(data))
        ctx.emit(checkpoint_json(checked, ctx.policy), "OK: " + describe(checked, ctx.policy))
        return 0
    entry, leaf = _entry_of(ctx.args)
    if entry is None and leaf is None:
        entry = parse_tlog_proof(data).extra or None
        if entry is None:
            raise ValueError("the receipt does not hold its entry: give --entry, --file or --leaf-hash")
    found = verifier.verify_receipt(data, entry=entry, leaf_hash=leaf)
    shown = f"\n  entry: {show_entry(entry)}" if entry is not None else ""
    ctx.emit(
        {"ok": True, "index": found.index, "leaf_hash": found.leaf_hash.hex(),
         "entry": base64.b64encode(entry).decode() if entry is not None else None,
         "checkpoint": checkpoint_json(found.checkpoint, ctx.policy)},
        f"OK: entry {found.index} is in {describe(found.checkpoint, ctx.policy)}{shown}",
    )
    return 0
