"""``auditlog monitor``: follow a log and raise an alarm when it misbehaves.

Every ``--interval`` seconds the monitor fetches the latest checkpoint, checks the log's
signature, and checks it against the last one it verified (``client.verifier``): a fork or a
rollback is an alert (kind ``fork`` or ``rollback``, exit code 3, with the two signed notes as
evidence). It also alerts when the latest checkpoint has lacked the witness quorum for
``--quorum-grace`` seconds (``quorum``), when the log's size has not changed for
``--stall-after`` seconds (``stalled``; off by default, since an idle log does not advance),
and when the server cannot be reached for that long (``unreachable``). With ``witness_urls``,
it also asks each witness what it last cosigned and checks that against what the log showed
(a log that shows its witnesses one history and its clients another is a ``fork``).
For a log that publishes to a bucket, it warns when the bucket's lock on the oldest entry the
server keeps ends within ``--expiry-warning`` days (``expiring``), and alerts once it has
ended (``expired``: from then on those records may be deleted from the bucket; a legal hold,
``auditlog hold``, keeps them). docs/retention.md.

An alert is one line on stderr (JSON with ``--json``) and, with ``--webhook URL``, a JSON POST::

    {"kind": "fork", "origin": "...", "size": 42, "message": "...", "time": "...Z",
     "evidence": ["<signed note>", "<signed note>"]}

Exit codes: 3 after a fork or rollback (always the end: the log cannot be trusted any more);
1 after another alert with ``--exit-on-alert`` or ``--once``; 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auditlog_tlog.client import witnesses
from auditlog_tlog.client.context import Context
from auditlog_tlog.client.verifier import VerifiedCheckpoint
from auditlog_tlog.tree.errors import AuditLogError, InconsistencyError, NotFoundError

EXIT_ALERT = 1
EXIT_INCONSISTENT = 3


def add_monitor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--interval", type=float, default=10.0, help="seconds between polls (10)")
    p.add_argument("--once", action="store_true", help="check once and exit (0 ok, 1 alert, 3 "
                   "fork/rollback)")
    p.add_argument("--webhook", help="POST each alert as JSON to this URL")
    p.add_argument("--quorum-grace", type=float, default=60.0,
                   help="seconds a checkpoint may lack the witness quorum before an alert (60)")
    p.add_argument("--stall-after", type=float, default=0.0,
                   help="alert when the size has not changed for this many seconds (0: never)")
    p.add_argument("--exit-on-alert", action="store_true", help="stop at the first alert")
    p.add_argument("--expiry-warning", type=float, default=30.0, metavar="DAYS",
                   help="warn when the bucket's lock on the oldest records ends within this many "
                   "days (30; 0: only when it has ended)")


@dataclass
class Monitor:
    ctx: Context
    clock: Any = time.monotonic
    wall: Any = time.time  # for the expiry of records (Unix time)
    alerted: set[str] = field(default_factory=set)  # kinds in an ongoing episode
    alerts: int = 0
    last_size: int | None = None
    size_since: float = 0.0
    unmet_since: float | None = None
    down_since: float | None = None

    def alert(self, kind: str, message: str, size: int | None = None,
              evidence: tuple[bytes, ...] = ()) -> None:
        if kind in self.alerted:
            return
        self.alerted.add(kind)
        self.alerts += 1
        obj = {"kind": kind, "origin": self.ctx.policy.origin, "size": size, "message": message,
               "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "evidence": [e.decode() for e in evidence]}
        line = json.dumps(obj, sort_keys=True) if self.ctx.json else f"ALERT {kind}: {message}"
        print(line, file=sys.stderr, flush=True)
        if self.ctx.args.webhook:
            self._post(obj)

    def _post(self, obj: dict[str, Any]) -> None:
        request = urllib.request.Request(
            self.ctx.args.webhook, data=json.dumps(obj).encode(), method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "auditlog-monitor"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            print(f"auditlog monitor: webhook {self.ctx.args.webhook} failed: {exc}",
                  file=sys.stderr, flush=True)

    def resolve(self, kind: str) -> None:
        self.alerted.discard(kind)

    def check(self, once: bool) -> int | None:
        """One poll; returns an exit code when the monitor must stop."""
        a = self.ctx.args
        now = self.clock()
        try:
            head = self.ctx.verifier().latest(require_quorum=False)
        except InconsistencyError as exc:
            kind = "rollback" if "rolled back" in str(exc) else "fork"
            self.alert(kind, str(exc), evidence=exc.evidence)
            return EXIT_INCONSISTENT
        except AuditLogError as exc:
            self.down_since = now if self.down_since is None else self.down_since
            if once or now - self.down_since >= max(a.stall_after, a.interval):
                self.alert("unreachable", f"cannot check the log: {exc}")
            return self._stop(once)
        self.down_since = None
        self.resolve("unreachable")
        self._report(head)
        for url in self.ctx.settings.witness_urls:
            if (code := self._check_witness(url)) is not None:
                return code
        self._check_expiry()
        if head.size != self.last_size:
            self.last_size, self.size_since = head.size, now
            self.resolve("stalled")
        elif a.stall_after and now - self.size_since >= a.stall_after:
            self.alert("stalled", f"the log has stayed at size {head.size} for "
                       f"{now - self.size_since:.0f} s", head.size)
        if head.quorum_met:
            self.unmet_since = None
            self.resolve("quorum")
        else:
            self.unmet_since = now if self.unmet_since is None else self.unmet_since
            if once or now - self.unmet_since >= a.quorum_grace:
                self.alert("quorum", f"the latest checkpoint (size {head.size}) is cosigned by "
                           f"{len(head.witnesses)} trusted witnesses, want {self.ctx.policy.quorum}",
                           head.size)
        return self._stop(once)

    def _check_expiry(self) -> None:
        """``expiring`` ahead of the end of the bucket's lock on the oldest records, ``expired``
        after it."""
        try:
            kept = self.ctx.client.log_info(refresh=True).retention
        except AuditLogError as exc:
            print(f"auditlog monitor: cannot read the log's retention: {exc}", file=sys.stderr,
                  flush=True)
            return
        if kept is None or not kept.oldest_retain_until:
            return
        left = kept.oldest_retain_until - self.wall()
        until = datetime.fromtimestamp(kept.oldest_retain_until, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        where = f"s3://{kept.bucket}/{kept.prefix}"
        if left <= 0:
            self.resolve("expiring")
            self.alert("expired", f"the lock on the oldest records the server keeps (from entry "
                       f"{kept.pruned_below}) in {where} ended at {until}: they may now be "
                       "deleted from the bucket (place a legal hold to keep them: auditlog hold)")
        elif left <= self.ctx.args.expiry_warning * 86400:
            self.alert("expiring", f"the lock on the oldest records the server keeps (from entry "
                       f"{kept.pruned_below}) in {where} ends at {until}, in {left / 86400:.1f} "
                       f"days (retention {kept.retention_days} days)")
        else:
            self.resolve("expiring")
            self.resolve("expired")

    def _check_witness(self, url: str) -> int | None:
        verifier = self.ctx.verifier()
        try:
            seen = verifier.verify_checkpoint(witnesses.latest_cosigned(url, self.ctx.policy.origin),
                                              require_quorum=False)
            verifier.observe(seen)
        except InconsistencyError as exc:
            self.alert("fork", f"the witness {url} saw another history: {exc}",
                       evidence=exc.evidence)
            return EXIT_INCONSISTENT
        except NotFoundError:
            pass  # it has cosigned nothing yet
        except (AuditLogError, OSError) as exc:
            print(f"auditlog monitor: cannot check the witness {url}: {exc}", file=sys.stderr,
                  flush=True)
        return None

    def _stop(self, once: bool) -> int | None:
        if self.alerts and (once or self.ctx.args.exit_on_alert):
            return EXIT_ALERT
        return 0 if once else None

    def _report(self, head: VerifiedCheckpoint) -> None:
        if head.consistency in ("same", "older") and self.last_size is not None:
            return
        witnesses = ", ".join(head.witnesses) or "no witness"
        self.ctx.emit(
            {"event": "checkpoint", "size": head.size, "root": head.root.hex(),
             "witnesses": list(head.witnesses), "consistency": head.consistency},
            f"size {head.size} root {head.root.hex()[:16]}... cosigned by {witnesses}: "
            f"{head.consistency}",
        )


def cmd_monitor(ctx: Context) -> int:
    monitor = Monitor(ctx)
    while True:
        code = monitor.check(ctx.args.once)
        if code is not None:
            return code
        time.sleep(ctx.args.interval)
