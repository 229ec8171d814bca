"""A thread that starts the witness journal's ``fdatasync`` for a request, so that the request
can prepare its archive object meanwhile (c2sp.org/tlog-witness@v1.0.0, "add-checkpoint": the
new checkpoint is persisted before the answer; ``witness.journal``, docs/witness-speed.md).

The sync itself is the journal's group commit (``Journal._sync_to``): whichever thread gets
there first syncs for every waiter. This thread only gets there early, while the request thread
does work that no reader can see (``LocalArchive.prepare_staged``); the request thread then
waits for its ticket as before, and nothing is answered or linked into the archive before it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from auditlog_tlog.tree.errors import StorageError


class SyncAhead:
    """Runs ``sync_to(ticket)`` in a thread of its own for the highest ticket :meth:`ask`-ed."""

    def __init__(self, sync_to: Callable[[int], None]) -> None:
        self._sync_to = sync_to
        self._cond = threading.Condition()
        self._asked = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="witness-journal-sync",
                                        daemon=True)
        self._thread.start()

    def ask(self, ticket: int) -> None:
        with self._cond:
            if ticket > self._asked:
                self._asked = ticket
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        handled = 0
        while True:
            with self._cond:
                while self._asked <= handled and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                handled = self._asked
            # A failure breaks the journal; the request's own wait for its ticket raises it.
            with contextlib.suppress(StorageError):
                self._sync_to(handled)
