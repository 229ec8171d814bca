"""Appending with addenda, and erasing them (c2sp.org/tlog-addenda; docs/erasure.md).

An append may carry, for each entry, addenda in the canonical form of ``tree.addenda`` (one
personal field each, blinded by a nonce of at least 16 bytes); :func:`check_addenda` accepts
them only when the entry commits each one's digest under its field name. They are stored apart
from the entries (``storage.addenda``), in the WriteBatch of their entry.

An erasure (:class:`ErasureRequest`) names the addenda by digest, or all those of one entry by
its index. :func:`plan_erasure` finds them; the log's writer then, in one WriteBatch, appends
the erasure record (:func:`erasure_entry`) and deletes the addenda, signs the tree that holds
the record, and purges the deleted bytes from the database's files. The record is an
``AuditEvent`` of version 1 (client/event.py)::

    actor     the principal that asked ("anonymous" on a server without principals)
    action    "auditlog.erasure"
    resource  "<origin>/entries/<index>" of the entry whose addenda were erased
    time      when the erasure was committed
    attributes {"digests": "<hex>,<hex>", "entry": <index>, "why": "<the reason given>"}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from auditlog_tlog.server.records import server_event
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree import addenda
from auditlog_tlog.tree.errors import MalformedError, NotFoundError

ACTION: Final = "auditlog.erasure"
MAX_WHY: Final = 1024


@dataclass(frozen=True, slots=True)
class ErasureRequest:
    """Erase ``digests``, or every stored addendum of entry ``index``; ``why`` is recorded."""

    who: str
    why: str
    digests: tuple[bytes, ...] = ()
    index: int | None = None

    def __post_init__(self) -> None:
        if (not self.digests) == (self.index is None):
            raise MalformedError("erase: give digests or an entry index, want exactly one")
        if not 0 < len(self.why) <= MAX_WHY:
            raise MalformedError(f"erase: why is {len(self.why)} characters, want 1 to {MAX_WHY}")
        if len(self.digests) > addenda.MAX_ADDENDA:
            raise MalformedError(f"erase: {len(self.digests)} digests, want at most "
                                 f"{addenda.MAX_ADDENDA}")
        for digest in self.digests:
            if len(digest) != addenda.DIGEST_SIZE:
                raise MalformedError(f"erase: a digest of {len(digest)} bytes, want "
                                     f"{addenda.DIGEST_SIZE}")


def check_addenda(number: int, entry: bytes, given: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
    """(digest, bytes) of each addendum of entry ``number``; MalformedError unless each is
    canonical and committed by the entry under its field name."""
    if len(given) > addenda.MAX_ADDENDA:
        raise MalformedError(f"entry {number}: {len(given)} addenda, want at most "
                             f"{addenda.MAX_ADDENDA}")
    commits = addenda.committed(entry)
    checked = []
    for i, data in enumerate(given):
        try:
            field = addenda.parse_addendum(data).field
        except MalformedError as exc:
            raise MalformedError(f"entry {number}, addendum {i}: {exc}") from None
        digest = addenda.digest(data)
        if commits.get(field) != digest:
            raise MalformedError(
                f"entry {number}, addendum {i} ({field}) hashes to {digest.hex()}; the entry "
                f"commits {commits[field].hex() if field in commits else 'no digest'} for "
                f"{field!r}, want the addendum it commits"
            )
        checked.append((digest, data))
    return checked


def plan_erasure(store: LogStore, request: ErasureRequest) -> tuple[int, list[bytes]]:
    """The entry index and the digests an erasure deletes; NotFoundError when there is
    nothing (left) to erase."""
    reader = store.addenda
    if request.index is not None:
        (entry,) = store.entries(request.index, request.index + 1)
        digests = sorted(set(addenda.committed(entry).values()))
        if not digests:
            raise NotFoundError(f"entry {request.index} of {store.origin} commits no addenda")
        index = request.index
    else:
        digests = list(dict.fromkeys(request.digests))
        index = -1
    stored = []
    for digest in digests:
        found = reader.get(digest)
        if found is not None:
            if index not in (-1, found.index) and request.index is None:
                raise MalformedError(f"erase: digests of entries {index} and {found.index}, "
                                     "want the addenda of one entry per erasure")
            index = found.index if request.index is None else index
            stored.append(digest)
            continue
        if request.index is not None:
            continue  # an addendum of the entry erased before, or never sent: not kept here
        erased = reader.erased(digest)
        if erased is not None:
            raise NotFoundError(f"addendum {digest.hex()} was already erased, by entry "
                                f"{erased.erasure_index} of {store.origin}")
        raise NotFoundError(f"no addendum {digest.hex()} in {store.origin}")
    if not stored:
        raise NotFoundError(f"entry {index} of {store.origin} has no addenda left to erase: "
                            "they were erased before or never stored")
    return index, stored


def erasure_entry(origin: str, who: str, why: str, index: int, digests: Sequence[bytes],
                  when: float) -> bytes:
    """The erasure record: who erased which addenda of which entry, and why."""
    return server_event(who, ACTION, f"{origin}/entries/{index}",
                        {"digests": ",".join(d.hex() for d in digests), "entry": index,
                         "why": why}, when)
