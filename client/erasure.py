"""``auditlog erase`` and ``auditlog addenda``: erase personal fields kept as addenda, and show
what an entry's addenda hold or where they were erased (docs/erasure.md).

``erase`` needs the ``admin`` role on the log; it prints where the erasure record was appended.
``addenda --index I`` reads entry ``I``, verifies it against the latest checkpoint, and shows
each addendum it commits, checked against its digest, or the entry that records its erasure.
"""

from __future__ import annotations

import argparse

from auditlog_tlog.client.context import Context, UsageError
from auditlog_tlog.client.ranges import check_range
from auditlog_tlog.client.sdk import AddendumState, LogClient
from auditlog_tlog.tree import addenda
from auditlog_tlog.tree.errors import MalformedError


def add_erase(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--digest", action="append", default=[], metavar="HEX",
                   help="an addendum's SHA-256 (repeat for several of one entry)")
    g.add_argument("--index", type=int, help="erase every addendum of the entry at this index")
    p.add_argument("--why", required=True, help="the reason, recorded in the log (1..1024 "
                   "characters), e.g. 'GDPR art. 17 request #4411'")


def cmd_erase(ctx: Context) -> int:
    args = ctx.args
    try:
        digests = [addenda.parse_digest(d) for d in args.digest]
    except MalformedError as exc:
        raise UsageError(f"--digest: {exc}") from None
    if args.index is not None and args.index < 0:
        raise UsageError(f"--index {args.index}: want an index >= 0")
    done = ctx.client.erase(args.why, digests=digests, index=args.index)
    ctx.emit({"erasure_index": done.record.index, "index": done.index,
              "digests": [d.hex() for d in done.digests],
              "leaf_hash": done.record.leaf_hash.hex()},
             f"erased {len(done.digests)} addend{'um' if len(done.digests) == 1 else 'a'} of "
             f"entry {done.index}; the erasure is recorded as entry {done.record.index}")
    return 0


def add_addenda(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", type=int, required=True, help="the entry whose addenda to show")


def states(client: LogClient, entry: bytes) -> dict[str, AddendumState]:
    """Field name -> the state of each addendum ``entry`` commits."""
    return {name: client.addendum(d) for name, d in sorted(addenda.committed(entry).items())}


def annotate(reader: object, entry: bytes) -> tuple[dict[str, object], str]:
    """For ``auditlog entries``: the state of an entry's addenda as JSON and as a remark
    (" [addenda: email erased by entry 9]"); nothing when the entry has none or the entries
    come from published tiles (addenda are never published)."""
    try:
        found = addenda.committed(entry)
    except MalformedError:
        return {}, ""
    if not found or not isinstance(reader, LogClient):
        return {}, ""
    got = states(reader, entry)
    shown = ", ".join(f"{n} erased by entry {s.erased_by}" if s.addendum is None else f"{n} kept"
                      for n, s in got.items())
    return ({n: {"digest": s.digest.hex(), "erased_by": s.erased_by} for n, s in got.items()},
            f" [addenda: {shown}]")


def describe(name: str, state: AddendumState) -> str:
    if state.addendum is None:
        return f"{name}: erased (the erasure is entry {state.erased_by})"
    return f"{name}: {state.addendum.value!r}"


def cmd_addenda(ctx: Context) -> int:
    index = ctx.args.index
    verifier = ctx.verifier()
    head = verifier.latest(require_quorum=False)
    if not 0 <= index < head.size:
        raise UsageError(f"--index {index}: want 0 <= index < {head.size} (the size of the log's "
                         "latest checkpoint)")
    ((_, entry),) = list(ctx.client.entries(index, index + 1))
    check_range(ctx.client, ctx.policy.hasher, index, [entry], head.size, head.root)
    found = states(ctx.client, entry)
    ctx.emit({"index": index, "addenda": {
        name: {"digest": s.digest.hex(), "erased_by": s.erased_by,
               "value": None if s.addendum is None else s.addendum.value}
        for name, s in found.items()}},
        "\n".join(describe(n, s) for n, s in found.items()) or f"entry {index} has no addenda")
    return 0
