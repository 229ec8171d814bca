"""The console's HTTP surface on a real server: strict security headers on every answer, the
shipped assets, and the read API's answers and refusals (precise codes, JSON errors)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest

from auditlog_tlog.server.console.routes import CSP
from auditlog_tlog.tree.checkpoint import open_checkpoint
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.verify import verify_consistency, verify_inclusion
from auditlog_tlog.tree.vkeys import parse_vkey
from tests.console.stack import ORIGIN, Stack

WANT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


@pytest.mark.parametrize("path", ["/console/", "/console/app.js", "/console/style.css",
                                  "/console/nope.js", "/api/v1/logs",
                                  f"/api/v1/entry?log={ORIGIN}&index=x"])
def test_every_console_answer_carries_a_strict_policy(stack: Stack, path: str) -> None:
    _, headers, _ = stack.get(path)
    assert headers["Content-Security-Policy"] == WANT_CSP == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_assets_are_shipped_with_their_types_and_no_inline_script(stack: Stack) -> None:
    status, headers, body = stack.get("/console/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<script type="module" src="/console/app.js"></script>' in body
    assert b"<script>" not in body and b"style=" not in body and b"http" not in body
    status, headers, _ = stack.get("/console/merkle.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert stack.get("/console/../server.toml")[0] == 404
    assert stack.get("/console/nope.js")[0] == 404


def test_logs_lists_the_checkpoint_witnesses_and_keys(stack: Stack) -> None:
    (log,) = stack.api("/api/v1/logs")["logs"]
    assert log["origin"] == ORIGIN and log["size"] == 7 and log["checkpoint_size"] == 7
    assert log["verifier_keys"] == [stack.log_vkey]
    checkpoint, _ = open_checkpoint(log["checkpoint"].encode(), [parse_vkey(stack.log_vkey)])
    assert checkpoint.size == 7
    (witness,) = log["witnesses"]
    assert witness["vkey"] == stack.witness_vkey and witness["cosigned_size"] == 7
    assert log["quorum"] == 1 and log["quorum_size"] == 7
    assert log["alerts"] == [] and log["publication"] is None
    assert log["checkpoint_age_s"] >= 0


@pytest.mark.parametrize(("path", "status", "says"), [
    ("/api/v1/entry", 400, "missing parameter log"),
    (f"/api/v1/entry?log={ORIGIN}", 400, "missing parameter index"),
    (f"/api/v1/entry?log={ORIGIN}&index=01", 400, "want a decimal integer"),
    (f"/api/v1/entry?log={ORIGIN}&index=-1", 400, "want a decimal integer"),
    (f"/api/v1/entry?log={ORIGIN}&index=7", 404, "want < 7"),
    ("/api/v1/entry?log=other.example&index=0", 404, "no log"),
    (f"/api/v1/checkpoints?log={ORIGIN}&limit=0", 400, "want 1..100"),
    (f"/api/v1/consistency?log={ORIGIN}&size1=5&size2=3", 400, "want size1 <= size2"),
    (f"/api/v1/consistency?log={ORIGIN}&size1=2&size2=7", 404, "signed no checkpoint at size 2"),
    (f"/api/v1/entry?log={ORIGIN}&index=" + "9" * 5000, 414, "want at most"),
])
def test_bad_requests_get_a_precise_code_and_reason(stack: Stack, path: str, status: int,
                                                     says: str) -> None:
    got, headers, body = stack.get(path)
    assert got == status, body
    assert headers["Content-Type"].startswith("application/json")
    assert says in json.loads(body)["error"]


def test_entry_checkpoints_and_consistency_answer_what_verifies(stack: Stack) -> None:
    entry = stack.api(f"/api/v1/entry?log={ORIGIN}&index=4")
    checkpoint, _ = open_checkpoint(str(entry["checkpoint"]).encode(), [parse_vkey(stack.log_vkey)])
    leaf = SHA256.hash_leaf(base64.b64decode(str(entry["entry"])))
    assert leaf.hex() == entry["leaf_hash"]
    proof = [base64.b64decode(h) for h in entry["proof"]]
    verify_inclusion(SHA256, 4, checkpoint.size, leaf, proof, checkpoint.root)
    history = stack.api(f"/api/v1/checkpoints?log={ORIGIN}&begin=1")
    sizes = [c["size"] for c in history["checkpoints"]]
    assert sizes == [3, 7] and history["more"] is False
    answer = stack.api(f"/api/v1/consistency?log={ORIGIN}&size1=3&size2=7")
    old, _ = open_checkpoint(str(answer["checkpoint1"]).encode(), [parse_vkey(stack.log_vkey)])
    verify_consistency(SHA256, 3, 7, [base64.b64decode(h) for h in answer["proof"]],
                       old.root, checkpoint.root)


def test_no_write_method_is_accepted(stack: Stack) -> None:
    for path in ("/api/v1/logs", "/console/", f"/api/v1/entry?log={ORIGIN}&index=0"):
        request = urllib.request.Request(stack.url + path, data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert caught.value.code == 405
        caught.value.close()
    assert stack.api("/api/v1/logs")["logs"][0]["size"] == 7  # nothing changed
