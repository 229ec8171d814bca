"""The console in a real browser (Debian's chromium, Playwright) against a real log server and
witness: overview, entry, history, verified here; tampered answers and a wrong key shown failed
with the reason. Tampering is done in the browser's network layer (``page.route``)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from playwright.sync_api import Page, Route

from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.tlogproof import open_tlog_proof
from auditlog_tlog.tree.verify import verify_inclusion
from auditlog_tlog.tree.vkeys import parse_vkey
from tests.console.stack import ORIGIN, WITNESS, Stack, go, pin


def keys(stack: Stack) -> list[str]:
    return [stack.log_vkey, stack.witness_vkey]


def test_overview_verifies_the_checkpoint_and_the_witness(stack: Stack, page: Page) -> None:
    pin(page, stack.url, keys(stack), quorum=1)
    go(page, stack.url, "#/")
    section = page.locator(f"section.log[data-origin='{ORIGIN}']")
    verdict = section.locator(".verdict")
    assert verdict.get_attribute("data-state") == "verified", verdict.inner_text()
    assert f"signed by {ORIGIN}, cosigned by {WITNESS}" in verdict.inner_text()
    row = section.locator("table.witnesses tr", has_text=WITNESS)
    assert "verified here" in row.inner_text() and "7" in row.inner_text()
    assert "No alerts." in section.inner_text()
    assert "null" not in page.inner_text("main") and "undefined" not in page.inner_text("main")
    # A second visit checks the new checkpoint against the one this browser saw.
    go(page, stack.url, "#/keys")
    go(page, stack.url, "#/")
    assert "this browser verified before (size 7)" in page.locator(".verdict").inner_text()


def test_without_pinned_keys_nothing_shows_verified(stack: Stack, page: Page) -> None:
    go(page, stack.url, "#/")
    assert page.locator(".verdict").get_attribute("data-state") == "failed"
    assert "No keys pinned" in page.inner_text("main")


def test_a_checkpoint_short_of_the_pinned_quorum_fails(stack: Stack, page: Page) -> None:
    pin(page, stack.url, [stack.log_vkey], quorum=1)  # the witness's key is not pinned
    go(page, stack.url, "#/")
    verdict = page.locator(".verdict")
    assert verdict.get_attribute("data-state") == "failed"
    assert "cosigned by 0 pinned witnesses, want at least 1" in verdict.inner_text()


def test_an_entry_verifies_and_its_receipt_verifies_offline(stack: Stack, page: Page,
                                                            tmp_path: Path) -> None:
    pin(page, stack.url, keys(stack), quorum=1)
    go(page, stack.url, f"#/entry?log={ORIGIN}&index=1")
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-state") == "verified", verdict.inner_text()
    assert page.inner_text("#record-kind") == "AuditEvent"
    assert "bob" in page.inner_text(".record") and "login" in page.inner_text(".record")
    with page.expect_download() as info:
        page.click("#download-receipt")
    receipt = info.value.path().read_bytes()
    proof, checkpoint, _ = open_tlog_proof(receipt, [parse_vkey(stack.log_vkey)])
    assert proof.index == 1
    verify_inclusion(SHA256, 1, checkpoint.size, SHA256.hash_leaf(proof.extra), proof.proof,
                     checkpoint.root)
    assert page.inner_text("#leaf-hash") == SHA256.hash_leaf(proof.extra).hex()


def test_records_decode_by_kind(stack: Stack, page: Page) -> None:
    pin(page, stack.url, keys(stack), quorum=1)
    for index, kind, shown in [(4, "OTLP log record", "refund issued"),
                               (5, "text", "plain text entry"), (6, "bytes", "00000000  00 01 02 ff")]:
        go(page, stack.url, f"#/entry?log={ORIGIN}&index={index}")
        assert page.locator("#verdict").get_attribute("data-state") == "verified"
        assert page.inner_text("#record-kind") == kind
        assert shown in page.inner_text("#record-body")


def _flip_proof(route: Route) -> None:
    response = route.fetch()
    answer = json.loads(response.text())
    first = bytearray(base64.b64decode(answer["proof"][0]))
    first[0] ^= 1
    answer["proof"][0] = base64.b64encode(bytes(first)).decode()
    route.fulfill(response=response, body=json.dumps(answer))


def test_a_tampered_proof_shows_failed_with_why(stack: Stack, page: Page) -> None:
    pin(page, stack.url, keys(stack), quorum=1)
    page.route("**/api/v1/entry?*", _flip_proof)
    go(page, stack.url, f"#/entry?log={ORIGIN}&index=2")
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-state") == "failed"
    assert "root computed from the inclusion proof: got" in verdict.inner_text()


def test_a_tampered_entry_shows_failed(stack: Stack, page: Page) -> None:
    pin(page, stack.url, keys(stack), quorum=1)

    def swap(route: Route) -> None:
        response = route.fetch()
        answer = json.loads(response.text())
        answer["entry"] = base64.b64encode(b"a forged record").decode()
        route.fulfill(response=response, body=json.dumps(answer))

    page.route("**/api/v1/entry?*", swap)
    go(page, stack.url, f"#/entry?log={ORIGIN}&index=0")
    text = page.locator("#verdict").inner_text()
    assert page.locator("#verdict").get_attribute("data-state") == "failed"
    assert "the server's leaf hash: got" in text


def test_a_wrong_pinned_key_shows_a_signature_failure(stack: Stack, page: Page) -> None:
    impostor = Ed25519Signer.generate(ORIGIN).vkey()
    pin(page, stack.url, [impostor])
    go(page, stack.url, f"#/entry?log={ORIGIN}&index=0")
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-state") == "failed"
    assert f"no signature by a pinned log key: signed by {ORIGIN}" in verdict.inner_text()


def test_a_forged_signature_shows_failed(stack: Stack, page: Page) -> None:
    pin(page, stack.url, keys(stack), quorum=1)

    def forge(route: Route) -> None:
        response = route.fetch()
        answer = json.loads(response.text())
        lines = answer["checkpoint"].split("\n")
        lines[1] = str(int(lines[1]) + 1)  # another size, same signature
        answer["checkpoint"] = "\n".join(lines)
        route.fulfill(response=response, body=json.dumps(answer))

    page.route("**/api/v1/entry?*", forge)
    go(page, stack.url, f"#/entry?log={ORIGIN}&index=0")
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-state") == "failed"
    assert f"the signature of {ORIGIN} does not verify" in verdict.inner_text()


def test_history_checks_consistency_between_two_checkpoints(stack: Stack, page: Page) -> None:
    pin(page, stack.url, keys(stack))
    go(page, stack.url, f"#/history?log={ORIGIN}")
    rows = page.locator("table.history tr[data-size]")
    sizes = [int(rows.nth(i).get_attribute("data-size") or -1) for i in range(rows.count())]
    assert 3 in sizes and 7 in sizes
    assert all(rows.nth(i).locator("td[data-state]").get_attribute("data-state") == "verified"
               for i in range(rows.count()))
    page.check("input[name=a][value='3']")
    page.check("input[name=b][value='7']")
    page.click("#check-consistency")
    verdict = page.locator("#consistency-verdict")
    assert verdict.get_attribute("data-state") == "verified", verdict.inner_text()

    page.route("**/api/v1/consistency?*", _flip_proof)
    page.click("#check-consistency")
    page.wait_for_selector("#consistency-verdict[data-state=failed]")
    assert "computed from the consistency proof: got" in page.inner_text("#consistency-verdict")
