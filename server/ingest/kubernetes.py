"""The Kubernetes audit webhook: an ``audit.k8s.io/v1`` ``EventList``, one entry per Event
(kubernetes.io/docs/tasks/debug/debug-cluster/audit/, "Webhook backend"; the types are
k8s.io/apiserver/pkg/apis/audit/v1).

kube-apiserver POSTs a JSON ``EventList`` to the URL of its ``--audit-webhook-config-file``
kubeconfig and retries on errors. Each Event is kept exactly as sent as the entry's
``record``; the same Event delivered again (same ``auditID``, ``stage`` and content) is the
same entry, so a retry adds nothing. One request makes an Event per stage, with one
``auditID``: those are distinct entries.

Search fields: ``actor`` is ``user.username``; ``action`` is ``verb``; ``resource`` is the
``objectRef`` as a path (``[<apiGroup>/]<apiVersion>/namespaces/<ns>/<resource>/<name>[/<sub>]``,
parts that are absent left out), else ``requestURI``; ``outcome`` is ``success`` for a
``responseStatus.code`` below 400 and ``failure`` from 400 on; ``time`` is ``stageTimestamp``,
else ``requestReceivedTimestamp``, in UTC.
"""

from __future__ import annotations

import json
from typing import Any, Final

from auditlog_tlog.server.ingest.record import IngestRecord, SearchFields, rfc3339_utc
from auditlog_tlog.tree.errors import MalformedError

API_VERSION: Final = "audit.k8s.io/v1"
TRANSPORT: Final = "k8s-audit"
STAGES: Final = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")


def parse_event_list(raw: bytes) -> list[dict[str, Any]]:
    """The Events of an EventList body; MalformedError saying what is wrong with it."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise MalformedError(f"body is not JSON: {str(exc)[:200]}") from None
    if not isinstance(document, dict):
        raise MalformedError(f"body is a JSON {type(document).__name__}, want an EventList object")
    for key, want in (("apiVersion", API_VERSION), ("kind", "EventList")):
        if document.get(key) != want:
            raise MalformedError(f"{key} is {str(document.get(key))[:64]!r}, want {want!r}")
    items = document.get("items")
    if not isinstance(items, list):
        raise MalformedError("items: want a list of audit Events")
    for i, event in enumerate(items):
        _check_event(i, event)
    return items


def _check_event(i: int, event: Any) -> None:
    if not isinstance(event, dict):
        raise MalformedError(f"items[{i}] is a JSON {type(event).__name__}, want an Event object")
    if event.get("kind", "Event") != "Event":
        raise MalformedError(f"items[{i}].kind is {str(event.get('kind'))[:64]!r}, want 'Event'")
    audit_id = event.get("auditID")
    if not isinstance(audit_id, str) or not audit_id:
        raise MalformedError(f"items[{i}].auditID: got {str(audit_id)[:64]!r}, want a non-empty string")
    if event.get("stage") not in STAGES:
        raise MalformedError(f"items[{i}].stage: got {str(event.get('stage'))[:64]!r}, want one of "
                             f"{list(STAGES)}")
    for key in ("user", "objectRef", "responseStatus"):
        if not isinstance(event.get(key, {}), dict):
            raise MalformedError(f"items[{i}].{key}: want an object")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _resource(event: dict[str, Any]) -> str | None:
    ref = event.get("objectRef", {})
    if not ref:
        return _text(event.get("requestURI"))
    parts = [ref.get("apiGroup"), ref.get("apiVersion")]
    if _text(ref.get("namespace")):
        parts += ["namespaces", ref["namespace"]]
    parts += [ref.get("resource"), ref.get("name"), ref.get("subresource")]
    return "/".join(p for p in parts if _text(p)) or _text(event.get("requestURI"))


def _outcome(event: dict[str, Any]) -> str | None:
    code = event.get("responseStatus", {}).get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    return "success" if code < 400 else "failure"


def _time(i: int, event: dict[str, Any]) -> str | None:
    key = "stageTimestamp" if event.get("stageTimestamp") is not None else "requestReceivedTimestamp"
    stamp = event.get(key)
    if stamp is None:
        return None
    if not isinstance(stamp, str) or not stamp:  # "" is no time: a MicroTime absent is null
        raise MalformedError(f"items[{i}].{key}: got {str(stamp)[:64]!r}, want RFC 3339")
    try:
        return rfc3339_utc(stamp)
    except MalformedError as exc:
        raise MalformedError(f"items[{i}]: {exc}") from None


def event_records(events: list[dict[str, Any]], principal: str | None) -> list[IngestRecord]:
    """One IngestRecord per Event (MalformedError names an Event whose time is not RFC 3339)."""
    return [
        IngestRecord(TRANSPORT, principal, SearchFields(
            actor=_text(event.get("user", {}).get("username")),
            action=_text(event.get("verb")),
            resource=_resource(event),
            outcome=_outcome(event),
            time=_time(i, event),
        ), event)
        for i, event in enumerate(events)
    ]
