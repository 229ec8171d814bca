"""``auditlog append``: one entry (text, a file, an audit event) or many from stdin (``--lines``,
``--jsonl``), with receipts (c2sp.org/tlog-proof@v1) written to stdout, a file or a directory.

An entry is at most the log's ``max_entry_bytes`` (65536 unless its operator changed it); a
bigger one is refused here, before anything is sent, with what to do instead. On a log with
dedup on, an entry already in the log is not stored again: its first index is returned, and
``--lines`` counts it as "already in the log".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from auditlog_tlog.client.context import Context, EntryTooLargeError, UsageError, with_entry
from auditlog_tlog.client.event import AuditEvent, event_from_json
from auditlog_tlog.client.filedigest import digest_file
from auditlog_tlog.client.sdk import AppendResult
from auditlog_tlog.common.files import write_atomic
from auditlog_tlog.tree.errors import InconsistencyError, MalformedError, VerificationError

OUTCOMES = ("success", "failure", "denied", "error")


def add_append(p: argparse.ArgumentParser) -> None:
    what = p.add_argument_group("the entry (give exactly one)")
    what.add_argument("text", nargs="?", help="the entry: this text, UTF-8")
    what.add_argument("--file", type=Path, help="the entry: this file's bytes (at most the log's "
                      "max_entry_bytes, 65536 by default)")
    what.add_argument("--hash-only", action="store_true",
                      help="with --file: append the file's digest record (SHA-256, size, name, "
                      "media type; docs/retention.md), not its bytes: for files of any size")
    what.add_argument("--media-type", help="with --hash-only: the file's media type (default: "
                      "guessed from its name)")
    what.add_argument("--jsonl", action="store_true",
                      help="many entries: one audit event (JSON object) per line of stdin")
    what.add_argument("--lines", action="store_true", help="many entries: each line of stdin "
                      "(an identical line already in the log is not stored again: dedup)")
    what.add_argument("--rejects", type=Path, metavar="FILE",
                      help="with --jsonl: append the valid lines and write each invalid one here "
                      "(a JSON line with its line number and reason) instead of stopping")
    ev = p.add_argument_group("the entry as an audit event (canonical JSON, see docs/audit-event.md)")
    ev.add_argument("--actor", help="who did it (a user, a service account), e.g. alice")
    ev.add_argument("--action", help="what was done, e.g. repo.delete or login")
    ev.add_argument("--resource", help="what it was done to, e.g. acme/web")
    ev.add_argument("--outcome", default="success", choices=OUTCOMES,
                    help="how it ended (default success)")
    ev.add_argument("--source", default="", help="the system that reports it, e.g. git-server")
    ev.add_argument("--request-id", default="", help="the request's id, to correlate with other logs")
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
            raise UsageError(f"--attr {item!r}: got no '=', want KEY=VALUE")
        attributes[key] = value
    missing = [f"--{n}" for n in ("actor", "action", "resource") if not getattr(args, n)]
    if missing:
        raise UsageError(f"an audit event needs {', '.join(missing)} too")
    try:
        return AuditEvent(args.actor, args.action, args.resource, args.outcome,
                          source=args.source, request_id=args.request_id, attributes=attributes)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _check_size(ctx: Context, length: int, what: str) -> None:
    limit = ctx.client.log_info().limits.max_entry_bytes
    if limit and length > limit:
        raise EntryTooLargeError(
            f"{what} is {length} bytes, over the log's limit of {limit} bytes per entry "
            "(max_entry_bytes). Append its digest record instead: 'auditlog append --file FILE "
            "--hash-only' (check the file later with 'auditlog verify RECEIPT --file FILE')")


def _warn_untrusted(ctx: Context) -> None:
    if not ctx.settings.log_keys:
        ctx.note("warning: no log key (no client config, no --log-key): the receipt is signed "
                 "by the log but was not verified, and witness cosignatures were not awaited; "
                 "check it with 'auditlog verify RECEIPT --log-key VKEY'")


def cmd_append(ctx: Context) -> int:
    a = ctx.args
    modes = [a.text is not None, a.file is not None, a.jsonl, a.lines,
             any((a.actor, a.action, a.resource))]
    if sum(modes) != 1:
        raise UsageError(f"got {sum(modes)} entries, want exactly one of: TEXT, --file, --jsonl, "
                         "--lines or --actor/--action/--resource")
    if a.rejects is not None and not a.jsonl:
        raise UsageError("--rejects goes with --jsonl")
    if a.jsonl or a.lines:
        return _append_many(ctx)
    if a.receipt_dir is not None:
        raise UsageError("--receipt-dir is for many entries (--lines, --jsonl); use --receipt FILE")
    if (a.hash_only or a.media_type is not None) and a.file is None:
        raise UsageError("--hash-only and --media-type go with --file")
    if a.file is not None and a.hash_only:
        try:
            entry = digest_file(a.file, a.media_type).encode()
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    elif a.file is not None:
        if a.media_type is not None:
            raise UsageError("--media-type goes with --hash-only")
        _check_size(ctx, a.file.stat().st_size, str(a.file))  # before reading a huge file
        entry = a.file.read_bytes()
        _check_size(ctx, len(entry), str(a.file))
    elif a.text is not None:
        entry = a.text.encode()
        _check_size(ctx, len(entry), "the entry")
    else:
        entry = _event(a).encode()
    if not a.no_receipt:
        _warn_untrusted(ctx)
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
        return result.receipt  # nothing to verify it with (warned above)
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


@dataclass
class _Reader:
    """Stdin as entries. A bad --jsonl line goes to ``rejects`` if given; otherwise it ends the
    input (so the lines before it are still appended) and is raised once the stream is done."""

    ctx: Context
    rejects: IO[str] | None
    sent: deque[bytes]
    error: Exception | None = None
    lines: int = 0
    rejected: int = 0

    def entries(self) -> Iterator[bytes]:
        jsonl = self.ctx.args.jsonl
        limit = self.ctx.client.log_info().limits.max_entry_bytes
        for number, raw in enumerate(sys.stdin.buffer, start=1):
            line = raw.rstrip(b"\n")
            if not line:
                continue
            try:
                entry = _event_line(line) if jsonl else line
                if limit and len(entry) > limit:
                    raise EntryTooLargeError(f"{len(entry)} bytes, over the log's limit of {limit} "
                                             "bytes per entry (max_entry_bytes)")
            except (MalformedError, EntryTooLargeError) as exc:
                if self.rejects is None:
                    self.error = type(exc)(f"stdin line {number}: {exc}")
                    return
                self.rejected += 1
                self.rejects.write(json.dumps({"line": number, "reason": str(exc),
                                               "input": line.decode(errors="replace")}) + "\n")
                self.rejects.flush()
                continue
            self.lines += 1
            self.sent.append(entry)
            yield entry


def _event_line(line: bytes) -> bytes:
    try:
        return event_from_json(json.loads(line)).encode()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedError(f"not JSON: {exc}") from None


def _append_many(ctx: Context) -> int:
    a = ctx.args
    want = a.receipt_dir is not None
    if a.receipt is not None:
        raise UsageError("--receipt is for one entry; with many use --receipt-dir DIR")
    if want:
        _warn_untrusted(ctx)
        a.receipt_dir.mkdir(parents=True, exist_ok=True)
    rejects = a.rejects.open("w", encoding="utf-8") if a.rejects is not None else None
    reader = _Reader(ctx, rejects, deque())
    new = duplicates = 0
    written: list[tuple[Path, int, bytes]] = []
    try:
        for result in ctx.client.append_stream(reader.entries(), receipt=want):
            entry = reader.sent.popleft()
            duplicates += result.duplicate
            new += not result.duplicate
            path = None
            if want:
                path = a.receipt_dir / f"{result.index}.tlog-proof"
                write_atomic(path, result.receipt if a.detached else with_entry(result.receipt, entry))
                written.append((path, result.index, entry))
            flag = "\tduplicate" if result.duplicate else ""
            ctx.emit({"index": result.index, "leaf_hash": result.leaf_hash.hex(),
                      "duplicate": result.duplicate, "receipt_file": str(path) if path else None},
                     f"{result.index}\t{result.leaf_hash.hex()}{flag}")
    finally:
        if rejects is not None:
            rejects.close()
    if reader.error is not None:  # one line: what stopped the input, and what was appended
        raise type(reader.error)(
            f"{reader.error}; nothing after it was read; before it: "
            f"{summary(reader.lines, new, duplicates, ctx.client.origin)}")
    ctx.note(summary(reader.lines, new, duplicates, ctx.client.origin, reader.rejected, a.rejects))
    if written and ctx.settings.log_keys and ctx.policy.quorum:
        _cosigned_receipts(ctx, written)
    return 1 if reader.rejected else 0


def _cosigned_receipts(ctx: Context, written: list[tuple[Path, int, bytes]]) -> None:
    """Replace the log-signed receipts of a stream (written at append time, before witnesses
    cosign) by receipts on a checkpoint with the witness quorum, so that each verifies as
    written; if the quorum does not come within --wait, keep them and say what to run."""
    verifier = ctx.verifier()
    last = max(index for _, index, _ in written)
    ctx.note(f"waiting up to {ctx.args.wait:g} s for {ctx.policy.quorum} witness cosignature(s) "
             f"to put the {len(written)} receipt(s) on a cosigned checkpoint")
    try:
        head = verifier.latest(wait=ctx.args.wait, min_size=last + 1)
    except InconsistencyError:
        raise
    except VerificationError:
        ctx.note(f"the receipts in {ctx.args.receipt_dir} are signed by the log only (no witness "
                 "quorum yet); later, run 'auditlog prove --leaf-hash HASH --receipt FILE' for "
                 "one on a cosigned checkpoint")
        return
    for path, _, entry in written:
        receipt = verifier.prove(entry=entry, at=head).receipt
        write_atomic(path, receipt if ctx.args.detached else with_entry(receipt, entry))


def summary(lines: int, new: int, duplicates: int, origin: str, rejected: int = 0,
            rejects: Path | None = None) -> str:
    """"3 lines: 1 new entry, 2 already in the log" (dedup), and what was rejected."""
    text = (f"appended to {origin}: {lines} line{'s' * (lines != 1)}, {new} new "
            f"entr{'ies' if new != 1 else 'y'}, {duplicates} already in the log")
    if rejected:
        text += f"; {rejected} rejected (see {rejects})"
    return text
