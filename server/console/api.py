"""The console's read API: JSON views of the logs for the browser, which verifies them itself.

Every answer carries the material to check it (signed checkpoint notes, entries, proofs), never a
verdict to trust: the console (``server/console/static``) verifies signatures with WebCrypto
against keys the auditor pinned, and proofs with RFC 9162, §2.1.3 and §2.1.4::

    GET /api/v1/logs                                  each readable log: size, latest checkpoint
                                                      and its age, witnesses, quorum, publication
                                                      lag, alerts
    GET /api/v1/entry?log=O&index=N                   entry N, its leaf hash and its inclusion
                                                      proof to the latest checkpoint
    GET /api/v1/checkpoints?log=O&begin=S&limit=L     signed checkpoints of size >= S, ascending
    GET /api/v1/consistency?log=O&size1=A&size2=B     the two signed checkpoints and the proof

The alerts are those ``auditlog monitor`` raises, as the server sees them: ``unavailable``
(``log_problems``: the log refuses service), ``fork`` (the log is halted: its tree does not
extend an anchor; the two checkpoints are the evidence), ``quorum`` (the latest checkpoint has
lacked the witness quorum for ``GRACE_S``), ``stalled`` (entries have waited for a checkpoint
for ``GRACE_S``). Reads need the ``read`` role as the tiles do (``server.security``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Final

from auditlog_tlog.server.metrics_http import LogsCollector, log_problems
from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.server.security import Authorizer, Principal
from auditlog_tlog.tree.cosignature import CosignatureVerifier
from auditlog_tlog.tree.encoding import MAX_UINT64
from auditlog_tlog.tree.errors import AuditLogError, MalformedError, NotFoundError, UnauthenticatedError

GRACE_S: Final = 60.0
MAX_CHECKPOINTS_PAGE: Final = 100
Json = dict[str, Any]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _integer(query: Mapping[str, str], name: str, default: int | None = None,
             low: int = 0, high: int = MAX_UINT64) -> int:
    raw = query.get(name)
    if raw is None:
        if default is None:
            raise MalformedError(f"missing parameter {name}, want a decimal integer")
        return default
    if not raw.isdecimal() or not raw.isascii() or len(raw) > 20 or (raw != "0" and raw[0] == "0"):
        raise MalformedError(f"parameter {name}: got {raw[:24]!r}, want a decimal integer")
    value = int(raw)
    if not low <= value <= high:
        raise MalformedError(f"parameter {name}: got {value}, want {low}..{high}")
    return value


class ConsoleReader:
    """Answers the console's API from the logs; pure enough to test without HTTP."""

    def __init__(self, logs: Mapping[str, LogRuntime], authorizer: Authorizer,
                 collector: LogsCollector) -> None:
        self._logs = logs
        self._authorizer = authorizer
        self._collector = collector

    def _principal(self, authorization: str | None) -> Principal | None:
        return self._authorizer.identify_http(authorization)

    def _log(self, query: Mapping[str, str], authorization: str | None) -> LogRuntime:
        origin = query.get("log")
        if not origin:
            raise MalformedError("missing parameter log, want a log's origin")
        runtime = self._logs.get(origin)
        if runtime is None:
            raise NotFoundError(f"no log {origin[:200]!r} on this server")
        self._authorizer.check(self._principal(authorization), origin, "read")
        return runtime

    def logs(self, authorization: str | None) -> Json:
        """Every log the caller may read; 401 when it may read none without a credential."""
        principal = self._principal(authorization)
        readable = [rt for origin, rt in self._logs.items()
                    if self._authorizer.may(principal, origin, "read")]
        if not readable and principal is None and self._logs:
            raise UnauthenticatedError("reading these logs needs a credential: a bearer token")
        return {"logs": [self._overview(rt) for rt in readable]}

    def _overview(self, runtime: LogRuntime) -> Json:
        config = runtime.config
        origin = config.origin
        view: Json = {
            "origin": origin, "hash": config.hash, "verifier_keys": [k.verifier_key for k in runtime.keys]
            or [runtime.verifier_key], "size": None, "checkpoint": None, "checkpoint_size": None,
            "checkpoint_age_s": None, "witnesses": [], "quorum": config.quorum, "quorum_size": None,
            "publication": None, "alerts": [],
        }
        alerts: list[Json] = view["alerts"]
        if runtime.failure is not None:
            alerts += [{"kind": "unavailable", "message": m, "evidence": []}
                       for m in log_problems({origin: runtime})]
            return view
        store = runtime.store
        view["size"] = store.size
        age = self._collector.checkpoint_age(origin)
        view["checkpoint_age_s"] = age
        halted = runtime.halted
        if halted is not None:
            alerts.append({"kind": "fork", "message": f"the log is halted: {halted}",
                           "evidence": [e.decode(errors="replace") for e in halted.evidence]})
        try:
            note, size, _ = runtime.latest_checkpoint()
            view["checkpoint"], view["checkpoint_size"] = note.decode(), size
        except AuditLogError:
            size = store.checkpoint_size
        waited = age is not None and age >= GRACE_S
        if store.size > size and waited:
            alerts.append({"kind": "stalled", "message": f"{store.size - size} entries have "
                           f"waited {age:.0f} s for a checkpoint", "evidence": []})
        if config.witnesses:
            sizes, met = self._collector.witness_sizes(origin)
            view["quorum_size"] = met
            for w in config.witnesses:
                name = CosignatureVerifier.from_vkey(w.vkey).name
                view["witnesses"].append({"name": name, "vkey": w.vkey, "url": w.url,
                                          "cosigned_size": sizes.get(name, 0)})
            if met < size and waited:
                alerts.append({"kind": "quorum", "message": f"the latest checkpoint (size {size}) "
                               f"has lacked {config.quorum} witness cosignatures for {age:.0f} s",
                               "evidence": []})
        if runtime.publisher is not None:
            entries, seconds = runtime.publisher.observe_lag()
            view["publication"] = {"published_size": runtime.publisher.published,
                                   "lag_entries": entries, "lag_s": seconds}
        return view

    def entry(self, query: Mapping[str, str], authorization: str | None) -> Json:
        """Entry ``index`` with its inclusion proof to the latest checkpoint."""
        runtime = self._log(query, authorization)
        index = _integer(query, "index")
        note, size, _ = runtime.latest_checkpoint()
        if index >= size:
            raise NotFoundError(f"index {index} is not in the latest checkpoint, want < {size}")
        inclusion = runtime.inclusion_by_index(index, size)
        (entry,) = runtime.store.entries(index, index + 1)
        return {"log": runtime.config.origin, "index": index, "size": size,
                "entry": _b64(entry), "leaf_hash": inclusion.leaf_hash.hex(),
                "proof": [_b64(h) for h in inclusion.proof], "checkpoint": note.decode()}

    def checkpoints(self, query: Mapping[str, str], authorization: str | None) -> Json:
        """Signed checkpoints of size >= ``begin``, ascending, at most ``limit``."""
        runtime = self._log(query, authorization)
        begin = _integer(query, "begin", 0)
        limit = _integer(query, "limit", 20, 1, MAX_CHECKPOINTS_PAGE)
        sizes, more = runtime.checkpoint_page(begin, limit)
        found = []
        for size in sizes:
            note, _, _ = runtime.checkpoint_at(size)
            found.append({"size": size, "checkpoint": note.decode()})
        return {"log": runtime.config.origin, "checkpoints": found, "more": more}

    def consistency(self, query: Mapping[str, str], authorization: str | None) -> Json:
        """The checkpoints at ``size1`` and ``size2`` and the proof that the second extends
        the first."""
        runtime = self._log(query, authorization)
        size1, size2 = _integer(query, "size1"), _integer(query, "size2")
        if size1 > size2:
            raise MalformedError(f"size1 {size1} is larger than size2 {size2}, want size1 <= size2")
        note1, _, _ = runtime.checkpoint_at(size1)
        note2, _, _ = runtime.checkpoint_at(size2)
        _, _, proof = runtime.consistency(size1, size2)
        return {"log": runtime.config.origin, "size1": size1, "size2": size2,
                "checkpoint1": note1.decode(), "checkpoint2": note2.decode(),
                "proof": [_b64(h) for h in proof]}
