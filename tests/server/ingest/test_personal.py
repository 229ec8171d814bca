"""[ingest.personal]: fields of ingested records kept apart as erasable addenda (docs/erasure.md).

Unit: what ``split`` takes out of OTLP, syslog and Kubernetes records, and the entry encoding
with an "addenda" member. End to end: a real server takes an OTLP/HTTP record and a Kubernetes
EventList, stores the personal fields as addenda only, and erases them.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import grpc
import pytest

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.ingest.personal import PersonalConfig, parse_personal, split
from auditlog_tlog.server.ingest.record import IngestRecord, SearchFields, encode_entry
from auditlog_tlog.tree.addenda import committed, parse_addendum
from tests.server.ingest.conftest import AUTH, K8S, ORIGIN, entries, ingest_config, ingest_url
from tests.servers import RunningServer, running

EMAIL = "carol.0451@example.com"
IP = "203.0.113.77"
PERSONAL = """
[ingest.personal]
otlp_attributes = ["user.email"]
syslog_params = ["src"]
paths = ["sourceIPs", "user.extra"]
"""


def _zero(n: int) -> bytes:
    return bytes(n)


def test_split_takes_the_configured_fields_out_of_each_kind_of_record() -> None:
    config = parse_personal({"otlp_attributes": ["user.email"], "syslog_params": ["src"],
                             "paths": ["sourceIPs", "user.extra"]})
    otlp = {"log_record": {"attributes": [
        {"key": "user.email", "value": {"stringValue": EMAIL}},
        {"key": "user.id", "value": {"stringValue": "u-9"}}]}}
    kept, found = split(config, otlp, _zero)
    assert kept == {"log_record": {"attributes": [{"key": "user.id", "value": {"stringValue": "u-9"}}]}}
    assert [(a.field, a.value) for a in found] == [("user.email", EMAIL)]
    assert otlp["log_record"]["attributes"][0]["key"] == "user.email"  # the input is left alone
    syslog = {"structured_data": [{"id": "origin", "params": [["src", IP], ["ip", "x"]]}]}
    kept, found = split(config, syslog, _zero)
    assert kept["structured_data"][0]["params"] == [["ip", "x"]] and found[0].value == IP
    k8s = {"sourceIPs": [IP], "user": {"username": "u-9", "extra": {"mail": [EMAIL]}}}
    kept, found = split(config, k8s, _zero)
    assert kept == {"user": {"username": "u-9"}}
    assert {a.field: a.value for a in found} == {"sourceIPs": f'["{IP}"]',
                                                 "user.extra": f'{{"mail":["{EMAIL}"]}}'}
    assert split(config, {"other": 1}, _zero) == ({"other": 1}, [])


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(ValueError, match="want a list of strings"):
        parse_personal({"paths": "sourceIPs"})
    with pytest.raises(ValueError, match="want a table with some of"):
        parse_personal({"fields": []})
    with pytest.raises(ValueError, match=r"want 1\.\.64 of"):
        PersonalConfig(paths=("a b",))


def test_an_entry_with_addenda_is_version_2_and_commits_them() -> None:
    rec = IngestRecord("otlp-http", None, SearchFields(actor="u-9"), {"a": 1})
    plain = encode_entry(rec)
    assert plain.endswith(b'"v":1}') and b"addenda" not in plain
    digest = "ab" * 32
    sealed = IngestRecord("otlp-http", None, SearchFields(actor="u-9"), {"a": 1},
                          (("user.email", digest),))
    data = encode_entry(sealed)
    assert data == b'{"addenda":{"user.email":"' + digest.encode() + b'"},' + plain[1:-6] + b'"v":2}'
    assert committed(data) == {"user.email": bytes.fromhex(digest)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = ingest_config(tmp_path_factory.mktemp("personal"))
    with config.open("a") as f:
        f.write(PERSONAL)
    yield from running(config)


def _post(url: str, body: bytes, content_type: str) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": content_type, "Authorization": f"Bearer {AUTH[0][1].split()[1]}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.status)


def test_ingested_personal_fields_are_addenda_and_can_be_erased(server: RunningServer) -> None:
    document = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": "1764464400000000000", "body": {"stringValue": "profile viewed"},
        "attributes": [{"key": "user.email", "value": {"stringValue": EMAIL}},
                       {"key": "enduser.id", "value": {"stringValue": "u-9"}}]}]}]}]}
    assert _post(ingest_url(server) + "/v1/logs", json.dumps(document).encode(),
                 "application/json") == 200
    (entry,) = entries(server, ORIGIN)
    raw = json.dumps(entry, sort_keys=True)
    assert EMAIL not in raw and entry["v"] == 2 and entry["fields"]["actor"] == "u-9"
    digest = bytes.fromhex(entry["addenda"]["user.email"])
    stub = server.stub()
    got = stub.GetAddendum(pb.GetAddendumRequest(log=ORIGIN, digest=digest), metadata=AUTH)
    assert parse_addendum(got.addendum, digest).value == EMAIL and got.index == 0

    events = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [{
        "level": "Metadata", "auditID": "4f1c", "stage": "ResponseComplete",
        "requestURI": "/api/v1/pods", "verb": "list", "user": {"username": "u-9"},
        "sourceIPs": [IP], "objectRef": {"resource": "pods"}, "responseStatus": {"code": 200},
        "requestReceivedTimestamp": "2026-11-30T01:00:00.412187Z",
        "stageTimestamp": "2026-11-30T01:00:00.418934Z"}]}
    assert _post(ingest_url(server) + "/k8s/audit", json.dumps(events).encode(),
                 "application/json") == 200
    (event,) = entries(server, K8S)
    assert IP not in json.dumps(event) and set(event["addenda"]) == {"sourceIPs"}
    erased = stub.Erase(pb.EraseRequest(log=K8S, index=0, why="subject request"), metadata=AUTH)
    assert erased.index == 0 and erased.erasure.index == 1
    digest = bytes.fromhex(event["addenda"]["sourceIPs"])
    state = stub.GetAddendum(pb.GetAddendumRequest(log=K8S, digest=digest), metadata=AUTH)
    assert state.addendum == b"" and state.erased_by == 1
    with pytest.raises(grpc.RpcError) as again:
        stub.Erase(pb.EraseRequest(log=K8S, digests=[digest], why="again"), metadata=AUTH)
    assert again.value.code() == grpc.StatusCode.NOT_FOUND
