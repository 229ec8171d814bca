"""The Kubernetes audit webhook: an audit.k8s.io/v1 EventList (in the format of the Kubernetes
documentation's audit examples) POSTed as kube-apiserver does (over TLS: test_tls.py)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.server.ingest.conftest import K8S, READER, TOKEN, entries, ingest_url, size_of
from tests.servers import RunningServer

EVENTS = (Path(__file__).parent / "k8s_eventlist.json").read_bytes()


def post_events(url: str, body: bytes, token: str | None = TOKEN, context: ssl.SSLContext | None = None,
                content_type: str = "application/json") -> tuple[int, str]:
    request = urllib.request.Request(url + "/k8s/audit", data=body, method="POST",
                                     headers={"Content-Type": content_type})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def test_each_event_is_one_entry_and_a_retry_adds_none(server: RunningServer) -> None:
    before = size_of(server, K8S)
    status, text = post_events(ingest_url(server), EVENTS)
    assert (status, text.strip()) == (200, "4 events stored")
    got = entries(server, K8S, before)
    assert len(got) == 4
    assert [e["record"] for e in got] == json.loads(EVENTS)["items"]
    assert got[0]["source"] == {"transport": "k8s-audit", "principal": "collector"}
    assert [e["fields"] for e in got] == [
        {"actor": "admin", "action": "list", "resource": "v1/namespaces/default/pods",
         "outcome": "success", "time": "2026-11-30T01:00:00.418934Z"},
        {"actor": "system:serviceaccount:ci:deployer", "action": "delete",
         "resource": "v1/namespaces/payments/secrets/db-password", "outcome": None,
         "time": "2026-11-30T01:00:01.000001Z"},
        {"actor": "system:serviceaccount:ci:deployer", "action": "delete",
         "resource": "v1/namespaces/payments/secrets/db-password", "outcome": "failure",
         "time": "2026-11-30T01:00:01.004512Z"},
        {"actor": "alice@example.com", "action": "patch",
         "resource": "apps/v1/namespaces/web/deployments/frontend/scale", "outcome": "success",
         "time": "2026-11-30T01:00:02.75Z"},
    ]
    # kube-apiserver retries a batch it saw fail: the same Events are the same entries.
    assert post_events(ingest_url(server), EVENTS)[0] == 200
    assert size_of(server, K8S) == before + 4


def _event_list(items: Any) -> bytes:
    return json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}).encode()


@pytest.mark.parametrize(("body", "token", "status", "says"), [
    (b"{not json", TOKEN, 400, "body is not JSON"),
    (b'{"kind": "EventList", "apiVersion": "audit.k8s.io/v1beta1", "items": []}', TOKEN, 400,
     "apiVersion is 'audit.k8s.io/v1beta1', want 'audit.k8s.io/v1'"),
    (_event_list([{"stage": "ResponseComplete"}]), TOKEN, 400, "items[0].auditID"),
    (_event_list([{"auditID": "a", "stage": "Later"}]), TOKEN, 400, "items[0].stage"),
    (_event_list([{"auditID": "a", "stage": "Panic", "stageTimestamp": "noon"}]), TOKEN, 400,
     "items[0]: time 'noon'"),
    (EVENTS, None, 401, "needs a credential"),
    (EVENTS, READER, 403, "reader lacks the 'append' role"),
])
def test_bad_event_lists_are_refused_whole(server: RunningServer, body: bytes, token: str | None,
                                           status: int, says: str) -> None:
    before = size_of(server, K8S)
    got, text = post_events(ingest_url(server), body, token)
    assert (got, says in text) == (status, True), text
    assert size_of(server, K8S) == before


def test_another_content_type_is_refused(server: RunningServer) -> None:
    assert post_events(ingest_url(server), EVENTS, content_type="text/plain")[0] == 415
