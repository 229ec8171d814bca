"""Search a log and prove every result: the SDK's :func:`search` and ``auditlog search``
(docs/search.md).

The server's answer is not trusted. Before anything is returned (or printed), each page's
checkpoint is verified with the log's key, and every result is checked: its leaf hash is the
hash of its entry, its inclusion proof leads to that checkpoint's root, its index is in the
asked range and in the asked order, and its entry itself matches every filter. A result that
fails is a :class:`TamperedResultError` naming its index. All pages of one search are proven
to the same checkpoint, which is compared with the one this client remembers (a fork is an
``InconsistencyError``).

What a page cannot prove: that no matching entry was left out (``auditlog audit`` rebuilds
the index from the entries to catch that) and when the log sequenced an entry (``logged_at``
and the ``--since``/``--until`` range come from the server's time map).
"""

from __future__ import annotations

import argparse
import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from auditlog_tlog.client.context import Context, UsageError, show_entry
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.client.verifier import VerifiedCheckpoint, Verifier
from auditlog_tlog.common.searchfields import EntryFields, entry_fields, matches, rfc3339_ns
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.tree.errors import VerificationError
from auditlog_tlog.tree.verify import verify_inclusion

MAX_RESULTS: Final = 100_000
PAGE: Final = 100
FIELD_OPTIONS: Final = (("actor", "actor"), ("action", "action"), ("resource", "resource"),
                        ("outcome", "outcome"), ("event_source", "source"),
                        ("principal", "principal"), ("request_id", "request_id"))


class TamperedResultError(VerificationError):
    """A search result the server altered or invented; ``index`` is the result's."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """What to find: (field, pattern) filters (a value, or a prefix ending in ``*``), the
    sequencing time range (RFC 3339, inclusive; "" for open), order and index range."""

    filters: tuple[tuple[str, str], ...] = ()
    since: str = ""
    until: str = ""
    newest: bool = True
    begin: int = 0
    end: int | None = None

    def request(self, limit: int, cursor: str) -> pb.SearchRequest:
        return pb.SearchRequest(
            filters=[pb.SearchFilter(field=f, pattern=p) for f, p in self.filters],
            since=self.since, until=self.until, oldest_first=not self.newest, limit=limit,
            cursor=cursor, begin=self.begin, end=self.end,
        )


@dataclass(frozen=True, slots=True)
class Found:
    """One proven result: the entry is leaf ``index`` of the search's checkpoint."""

    index: int
    entry: bytes
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    fields: EntryFields | None  # read from the entry by this client, not taken from the server
    logged_at_ns: int | None  # the server's word: not proven


@dataclass(frozen=True, slots=True)
class SearchResult:
    checkpoint: VerifiedCheckpoint
    found: tuple[Found, ...]
    next_cursor: str | None  # where to go on, if the limit stopped the search
    indexed_from: int = 0  # the server's index covers entries from here on (below: not searched)


def _checked(verifier: Verifier, spec: SearchSpec, response: pb.SearchResponse,
             pinned: VerifiedCheckpoint | None, after: int | None) -> tuple[VerifiedCheckpoint,
                                                                            list[Found]]:
    checkpoint = verifier.verify_checkpoint(response.checkpoint, require_quorum=False)
    if checkpoint.size != response.tree_size:
        raise VerificationError(f"search page: checkpoint of size {checkpoint.size}, but the "
                                f"server says {response.tree_size}")
    if pinned is not None and (checkpoint.size, checkpoint.root) != (pinned.size, pinned.root):
        raise VerificationError(f"search page proven to the checkpoint of size "
                                f"{checkpoint.size}, want the one of the first page (size "
                                f"{pinned.size}, root {pinned.root.hex()[:16]}...)")
    hasher = verifier.policy.hasher
    keys = tuple(f[5:] for f, _ in spec.filters if f.startswith("attr."))
    found: list[Found] = []
    for r in response.results:
        index, entry = r.index, bytes(r.entry)
        end = checkpoint.size if spec.end is None else min(spec.end, checkpoint.size)
        if not spec.begin <= index < end:
            raise TamperedResultError(f"result at index {index}: outside the range "
                                      f"[{spec.begin}, {end}) searched", index)
        if after is not None and (index >= after if spec.newest else index <= after):
            raise TamperedResultError(f"result at index {index}: out of order after {after}",
                                      index)
        after = index
        leaf = hasher.hash_leaf(entry)
        if leaf != r.leaf_hash:
            raise TamperedResultError(f"result at index {index}: leaf hash {r.leaf_hash.hex()} "
                                      f"is not the hash of its entry ({leaf.hex()})", index)
        try:
            verify_inclusion(hasher, index, checkpoint.size, leaf, tuple(r.proof),
                             checkpoint.root)
        except VerificationError as exc:
            raise TamperedResultError(f"result at index {index}: its entry is not proven in "
                                      f"the checkpoint of size {checkpoint.size}: {exc}",
                                      index) from None
        fields = entry_fields(entry, keys)
        for name, pattern in spec.filters:
            prefix = pattern.endswith("*")
            if not matches(fields, name, pattern[:-1] if prefix else pattern, prefix):
                raise TamperedResultError(f"result at index {index}: its entry does not match "
                                          f"{name}={pattern}", index)
        found.append(Found(index, entry, leaf, tuple(r.proof), fields,
                           r.logged_at_unix_nano or None))
    return checkpoint, found


def search(client: LogClient, verifier: Verifier, spec: SearchSpec, limit: int = PAGE,
           cursor: str = "") -> SearchResult:
    """Up to ``limit`` results, newest (or oldest) first, each proven; every page checked
    before any is returned. The checkpoint is then compared with the remembered one."""
    if not 1 <= limit <= MAX_RESULTS:
        raise ValueError(f"limit: got {limit}, want 1..{MAX_RESULTS}")
    found: list[Found] = []
    pinned: VerifiedCheckpoint | None = None
    after: int | None = None
    next_cursor: str | None = cursor
    indexed_from = 0
    while len(found) < limit and next_cursor is not None:
        response = client.search_page(spec.request(min(PAGE, limit - len(found)), next_cursor))
        pinned, page = _checked(verifier, spec, response, pinned, after)
        indexed_from = max(indexed_from, response.indexed_from)
        found.extend(page)
        if page:
            after = page[-1].index
        next_cursor = response.next_cursor or None
    if pinned is None:
        raise VerificationError("the server answered no page")
    return SearchResult(verifier.observe(pinned), tuple(found), next_cursor, indexed_from)


# -- the command ------------------------------------------------------------------------------
def cli_time(option: str, text: str, end_of_day: bool) -> str:
    """``2026-11-01`` (the whole day) or RFC 3339, as RFC 3339 for the request."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return text  # the server names it if it is not RFC 3339
    if end_of_day:
        day += timedelta(days=1) - timedelta(microseconds=1)
    return day.isoformat().replace("+00:00", "Z")


def add_search(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters (all must match; 'prefix*' matches values that start so)")
    g.add_argument("--actor", help="who did it (alice, system:serviceaccount:*)")
    g.add_argument("--action", help="what they did (repo.delete, 'repo.*')")
    g.add_argument("--resource", help="to what (acme/web, 'pods/*')")
    g.add_argument("--outcome", help="success, failure, ...")
    g.add_argument("--event-source", help="the event's source (ingested: the transport)")
    g.add_argument("--principal", help="the authenticated principal that sent an ingested entry")
    g.add_argument("--request-id", help="the request id an event carries")
    g.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE",
                   help="a configured attribute (the log's index_attributes); repeatable")
    add_time_range(p)
    p.add_argument("--oldest", action="store_true", help="oldest first (default newest)")
    p.add_argument("--limit", type=int, default=PAGE, help=f"results at most (default {PAGE})")
    p.add_argument("--cursor", default="", help="go on where a search stopped")


def add_time_range(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", help="entries the log sequenced from then on: 2026-11-01 or "
                   "RFC 3339 (2026-11-01T09:00:00Z)")
    p.add_argument("--until", help="entries the log sequenced up to then (a date: that whole day)")


def spec_of(args: argparse.Namespace) -> SearchSpec:
    filters = [(field, value) for option, field in FIELD_OPTIONS
               if (value := getattr(args, option)) is not None]
    for pair in args.attr:
        key, eq, value = pair.partition("=")
        if not eq or not key or not value:
            raise UsageError(f"--attr {pair!r}: want KEY=VALUE")
        filters.append((f"attr.{key}", value))
    times = spec_of_times(args)
    return SearchSpec(tuple(filters), since=times.since, until=times.until,
                      newest=not args.oldest)


def spec_of_times(args: argparse.Namespace) -> SearchSpec:
    """The --since/--until range of a command (a date alone: from its start, to its end)."""
    return SearchSpec(since=cli_time("--since", args.since, False) if args.since else "",
                      until=cli_time("--until", args.until, True) if args.until else "")


def found_json(f: Found, size: int) -> dict[str, Any]:
    fields = {} if f.fields is None else {k: v for k, v in (
        ("actor", f.fields.actor), ("action", f.fields.action), ("resource", f.fields.resource),
        ("outcome", f.fields.outcome), ("time", f.fields.time), ("source", f.fields.source),
        ("principal", f.fields.principal), ("request_id", f.fields.request_id),
        *((f"attr.{k}", v) for k, v in f.fields.attributes)) if v is not None}
    logged = None if f.logged_at_ns is None else rfc3339_ns(f.logged_at_ns)
    return {"index": f.index, "entry": base64.b64encode(f.entry).decode(),
            "leaf_hash": f.leaf_hash.hex(), "fields": fields, "logged_at": logged,
            "checkpoint_size": size}


def cmd_search(ctx: Context) -> int:
    args = ctx.args
    if not 1 <= args.limit <= MAX_RESULTS:
        raise UsageError(f"--limit {args.limit}: want 1..{MAX_RESULTS}")
    spec = spec_of(args)
    result = search(ctx.client, ctx.verifier(), spec, args.limit, args.cursor)
    size = result.checkpoint.size
    for f in result.found:
        shown = found_json(f, size)
        ctx.emit(shown, f"{f.index}\t{shown['logged_at'] or '-'}\t{show_entry(f.entry)}")
    ctx.note(f"{len(result.found)} results, each proven in the checkpoint of size {size} "
             f"(root {result.checkpoint.root.hex()[:16]}...)")
    if result.next_cursor is not None:
        ctx.note(f"more: --cursor {result.next_cursor}")
    if result.indexed_from > spec.begin:
        ctx.note(f"not searched: entries {spec.begin} to {result.indexed_from - 1}, which the "
                 f"log's index does not cover (written before it, pruned, or before an index "
                 f"format change); `auditlog entries` and `auditlog audit` still read them")
    return 0



def index_range(client: LogClient, since: str, until: str) -> tuple[int, int]:
    """[begin, end): the entries the log says it sequenced from ``since`` to ``until`` (RFC 3339,
    inclusive, "" open), from its time map; the entries themselves are then checked as usual."""

    def edge(oldest_first: bool) -> int | None:
        request = pb.SearchRequest(since=since, until=until, oldest_first=oldest_first, limit=1,
                                   indexes_only=True)
        results = client.search_page(request).results
        return results[0].index if results else None

    first = edge(True)
    if first is None:
        return 0, 0
    last = edge(False)
    return first, first if last is None else max(first, last + 1)
