"""Personal fields of an ``AuditEvent``, kept apart from the entry as addenda so that they can be
erased (c2sp.org/tlog-addenda, ``tree.addenda``; docs/erasure.md).

::

    sealed = personal(AuditEvent("u-1842", "profile.update", "crm/contacts/77",
                                 attributes={"email": "alice@example.com", "plan": "pro"}),
                      keys={"email"})
    log.append(sealed)            # the entry commits SHA-256 of the email's addendum, not the email

:func:`personal` moves the attributes named in ``keys`` (and any ``fields`` given on their own)
out of the event into addenda, each blinded by 16 fresh random bytes, and puts their digests in
the event (version 2 of its encoding). What stays in the entry, the actor included, is never
erasable: keep a pseudonymous identifier there and the name, e-mail or address in addenda.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from auditlog_tlog.client.event import AttributeValue, AuditEvent
from auditlog_tlog.tree.addenda import NONCE_SIZE, Addendum


@dataclass(frozen=True, slots=True)
class PersonalEvent:
    """An event that commits its personal fields by digest, and those fields as addenda."""

    event: AuditEvent
    addenda: tuple[Addendum, ...]

    def __post_init__(self) -> None:
        want = dict(self.event.addenda)
        got = {a.field: a.digest().hex() for a in self.addenda}
        if want != got:
            raise ValueError(f"addenda: the event commits {sorted(want)}, got addenda for "
                             f"{sorted(got)} (or different values): want the same")

    def encode(self) -> bytes:
        """The entry: the event's canonical encoding, without the personal values."""
        return self.event.encode()

    def encoded_addenda(self) -> list[bytes]:
        return [a.encode() for a in self.addenda]

    def value(self, field: str) -> AttributeValue:
        """A personal field's value (as long as this object is kept: the log may erase it)."""
        for addendum in self.addenda:
            if addendum.field == field:
                return addendum.value
        raise KeyError(field)


def personal(event: AuditEvent, fields: Mapping[str, AttributeValue] | None = None, *,
             keys: Iterable[str] = (),
             nonce: Callable[[int], bytes] = os.urandom) -> PersonalEvent:
    """``event`` with the attributes named in ``keys`` and the ``fields`` given on their own
    moved into addenda (a key that the event does not carry is skipped)."""
    attributes = dict(event.attributes)
    moved: dict[str, AttributeValue] = {k: attributes.pop(k) for k in keys if k in attributes}
    for name, value in (fields or {}).items():
        if name in moved or name in attributes:
            raise ValueError(f"personal field {name!r}: given twice, want it once")
        moved[name] = value
    if event.addenda:
        raise ValueError("event: already commits addenda, want a plain event")
    addenda = tuple(Addendum(name, value, nonce(NONCE_SIZE)) for name, value in sorted(moved.items()))
    sealed = replace(event, attributes=tuple(sorted(attributes.items())),
                     addenda=tuple((a.field, a.digest().hex()) for a in addenda))
    return PersonalEvent(sealed, addenda)
