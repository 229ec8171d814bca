"""The Kubernetes audit webhook: an audit.k8s.io/v1 EventList (in the format of the Kubernetes
documentation's audit examples) POSTed as kube-apiserver does, by bearer token and by client
certificate over TLS."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.certs import CA
from tests.server.ingest.conftest import (
    K8S,
    READER,
    TOKEN,
    entries,
    ingest_config,
    ingest_url,
    size_of,
)
from tests.servers import RunningServer, running

EVENTS = (Path(__file__).parent / "k8s_eventlist.json").read_bytes()


def _post(url: str, body: bytes, token: str | None = TOKEN, context: ssl.SSLContext | None = None,
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
    status, text = _post(ingest_url(server), EVENTS)
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
    assert _post(ingest_url(server), EVENTS)[0] == 200
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
    got, text = _post(ingest_url(server), body, token)
    assert (got, says in text) == (status, True), text
    assert size_of(server, K8S) == before


def test_another_content_type_is_refused(server: RunningServer) -> None:
    assert _post(ingest_url(server), EVENTS, content_type="text/plain")[0] == 400


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, CA, Path]]:
    directory = tmp_path_factory.mktemp("ingest-tls")
    ca = CA()
    (directory / "ca.pem").write_bytes(ca.pem)
    ca.issue("127.0.0.1", server=True).write(directory, "server")
    config = ingest_config(directory, extra_server=(
        '[server.tls]\ncert_file = "server.pem"\nkey_file = "server.key"\nclient_ca_file = "ca.pem"\n'))
    for server in running(config):
        yield server, ca, directory


def test_over_tls_a_client_certificate_identifies_the_apiserver(
        tls_server: tuple[RunningServer, CA, Path]) -> None:
    server, ca, directory = tls_server
    url = ingest_url(server)
    assert url.startswith("https://")
    cert, key = ca.issue("collector.internal").write(directory, "apiserver")
    context = ssl.create_default_context(cafile=directory / "ca.pem")
    context.load_cert_chain(cert, key)
    status, text = _post(url, EVENTS, token=None, context=context)
    assert (status, text.strip()) == (200, "4 events stored")
    # Without a certificate, a token still works; with neither, 401.
    plain = ssl.create_default_context(cafile=directory / "ca.pem")
    assert _post(url, EVENTS, token=TOKEN, context=plain)[0] == 200
    assert _post(url, EVENTS, token=None, context=plain)[0] == 401
    stranger, stranger_key = CA("another CA").issue("collector.internal").write(directory, "stranger")
    context = ssl.create_default_context(cafile=directory / "ca.pem")
    context.load_cert_chain(stranger, stranger_key)
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        _post(url, EVENTS, token=None, context=context)
