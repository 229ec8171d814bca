"""What the browser verifies on its own: a receipt dropped on the page with the server stopped,
and the console's JavaScript against the same vectors as the Python reference (tests/vectors)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import FilePayload, Page

from auditlog_tlog.client.event import event_from_json
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.keys import load_or_create_key
from auditlog_tlog.server.security import hash_token
from tests.console.stack import ORIGIN, go, pin
from tests.servers import RunningServer, running, write_server_config

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


@pytest.fixture
def lone_server(tmp_path: Path) -> Iterator[tuple[RunningServer, str]]:
    signer, _ = load_or_create_key(tmp_path / "keys" / "log.key", ORIGIN)
    config = write_server_config(tmp_path, (ORIGIN,), extra_log='key_file = "keys/log.key"\n')
    yield from ((server, signer.vkey()) for server in running(config))


def _drop(page: Page, name: str, data: bytes) -> None:
    """Drop a file on the drop zone as a user dragging it from a file manager does."""
    transfer = page.evaluate_handle(
        """([name, bytes]) => { const t = new DataTransfer();
             t.items.add(new File([new Uint8Array(bytes)], name)); return t; }""",
        [name, list(data)])
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})


def test_a_dropped_receipt_verifies_with_the_server_stopped(
        lone_server: tuple[RunningServer, str], page: Page) -> None:
    server, vkey = lone_server
    event = event_from_json({"actor": "alice", "action": "repo.delete", "resource": "acme/web",
                             "time": "2026-11-30T03:00:00.000000Z"}).encode()
    result = server.stub().Append(pb.AppendRequest(log=ORIGIN, entry=event, want_receipt=True),
                                  timeout=10).result
    receipt = bytes(result.receipt)
    assert receipt.startswith(b"c2sp.org/tlog-proof@v1\n")
    base = server.tiles_url
    pin(page, base, [vkey])
    go(page, base, "#/receipt")
    assert server.stop() == 0  # the page is loaded; nothing more comes from the server

    with_entry = receipt if b"\nextra " in receipt else None
    if with_entry is None:  # a bare receipt: the entry goes beside it, as for `--detached`
        page.set_input_files("#receipt-entry", files=[FilePayload(
            name="entry.json", mimeType="application/json", buffer=event)])
    _drop(page, "first.tlog-proof", receipt)
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-state") == "verified", verdict.inner_text()
    assert f"entry {result.index} is in {ORIGIN}" in verdict.inner_text()
    assert "alice" in page.inner_text(".record")

    tampered = receipt.replace(b"index 0\n", b"index 1\n")
    assert tampered != receipt
    _drop(page, "tampered.tlog-proof", tampered)
    page.wait_for_selector("#verdict[data-state=failed]")
    assert "index 1 is not in a tree of size 1" in page.inner_text("#verdict")


def _vectors() -> dict[str, object]:
    return {name: json.loads((VECTORS / f"{name}.json").read_text())
            for name in ("merkle", "notes", "cosignatures")}


CHECK = Path(__file__).with_name("vectors_check.js")



def test_the_console_javascript_agrees_with_the_vectors(
        lone_server: tuple[RunningServer, str], page: Page) -> None:
    server, _ = lone_server
    go(page, server.tiles_url, "#/keys")
    result = page.evaluate(CHECK.read_text(), _vectors())
    assert result["bad"] == []
    assert result["checked"] >= 36 + 36 + 10 + 14 + 2


def test_a_private_log_needs_the_token_entered_once(tmp_path: Path, page: Page) -> None:
    token = "console-test-token"
    signer, _ = load_or_create_key(tmp_path / "keys" / "log.key", ORIGIN)
    principal = (f'[[principal]]\nname = "auditor"\ntoken_sha256 = "{hash_token(token)}"\n'
                 f'roles = {{ "{ORIGIN}" = ["read"] }}\n')
    config = write_server_config(tmp_path, (ORIGIN,), extra_server=principal,
                                 extra_log='key_file = "keys/log.key"\npublic_read = false\n')
    for server in running(config):
        base = server.tiles_url
        go(page, base, "#/")
        assert "needs a credential" in page.inner_text(".error")
        assert "Enter a token under Keys" in page.inner_text(".error")
        pin(page, base, [signer.vkey()])
        page.fill("input[name=token]", token)
        page.click("#keys-form button[type=submit]")
        page.wait_for_selector("#keys-status.ok")
        go(page, base, "#/")
        assert page.locator(".verdict").get_attribute("data-state") == "verified"
