"""``auditlog hold``: place or release an S3 legal hold on the published objects that hold a
range of entries, recorded as an entry of the log (docs/retention.md; server/holds.py does
the work, with the log's bucket credentials, for a caller with the ``admin`` role).

The range is given as indexes (``--from-index``/``--to-index``, half-open) or as the times the
log sequenced the entries (``--since``/``--until``, through the log's time map, as ``entries``
and ``search`` take them); a release names the entry that recorded the hold (``--hold-entry``),
whose range and published size it releases. Every way of naming the range goes through
:func:`hold_range`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from auditlog_tlog.client.context import Context, UsageError
from auditlog_tlog.client.event import parse_event
from auditlog_tlog.client.search import add_time_range, index_range, spec_of_times
from auditlog_tlog.tree.errors import MalformedError

PLACE = "auditlog.legal_hold.place"


def add_hold(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from-index", type=int, metavar="BEGIN", help="the first entry to hold")
    p.add_argument("--to-index", type=int, metavar="END",
                   help="one past the last entry to hold (at most the size the bucket holds)")
    add_time_range(p)
    p.add_argument("--release", action="store_true", help="release a hold placed before")
    p.add_argument("--hold-entry", type=int, metavar="INDEX", help="with --release: the index "
                   "of the entry that recorded the hold (its range and size are released)")
    p.add_argument("--size", type=int, help="the published size whose objects to hold or "
                   "release (default: the bucket's size; --hold-entry gives the hold's)")
    p.add_argument("--reason", default="", help="why (a case or matter), recorded in the log")


@dataclass(frozen=True, slots=True)
class HoldRange:
    begin: int
    end: int
    size: int | None  # None: the size the bucket holds now


def hold_range(ctx: Context) -> HoldRange:
    """The entries (and published size) the arguments name."""
    a = ctx.args
    if a.hold_entry is not None:
        if not a.release or a.from_index is not None or a.to_index is not None:
            raise UsageError("--hold-entry goes with --release, without --from-index/--to-index")
        return _recorded(ctx, a.hold_entry)
    if a.since or a.until:
        if a.from_index is not None or a.to_index is not None:
            raise UsageError("give --since/--until or --from-index/--to-index, not both")
        times = spec_of_times(a)
        begin, end = index_range(ctx.client, times.since, times.until)
        if begin >= end:
            raise UsageError(f"--since {a.since or '(open)'} --until {a.until or '(open)'}: the "
                             "log sequenced no entries then (nothing to hold)")
        return HoldRange(begin, end, a.size)
    if a.from_index is None or a.to_index is None:
        raise UsageError("give --from-index and --to-index, or --since/--until (or, to release, "
                         "--hold-entry)")
    if not 0 <= a.from_index < a.to_index:
        raise UsageError(f"--from-index {a.from_index} --to-index {a.to_index}: want "
                         "0 <= BEGIN < END")
    return HoldRange(a.from_index, a.to_index, a.size)


def _recorded(ctx: Context, index: int) -> HoldRange:
    """The range and size of the hold recorded at ``index``."""
    ((_, entry),) = ctx.reader.entries(index, index + 1)
    try:
        event = parse_event(entry)
    except MalformedError as exc:
        raise UsageError(f"entry {index} is not a legal hold's record: {exc}") from None
    attrs = event.attrs
    if event.action != PLACE or not all(isinstance(attrs.get(k), int) and
                                        not isinstance(attrs.get(k), bool)
                                        for k in ("begin", "end", "size")):
        raise UsageError(f"entry {index} is not a legal hold's record: got action "
                         f"{event.action!r}, want {PLACE!r} with begin, end and size")
    return HoldRange(int(attrs["begin"]), int(attrs["end"]), int(attrs["size"]))


def cmd_hold(ctx: Context) -> int:
    held = hold_range(ctx)
    release = ctx.args.release
    done = ctx.client.legal_hold(held.begin, held.end, release=release, reason=ctx.args.reason,
                                 size=held.size)
    verb = "released" if release else "placed"
    ctx.emit(
        {"action": verb, "begin": held.begin, "end": held.end, "objects": done.objects,
         "size": done.size, "index": done.index, "leaf_hash": done.leaf_hash.hex()},
        f"legal hold {verb} on {done.objects} objects of {ctx.client.origin} holding entries "
        f"[{held.begin}, {held.end}) at published size {done.size}; recorded as entry "
        f"{done.index}",
    )
    return 0
