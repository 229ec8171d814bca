"""The search page in a real browser against the real ``GET /api/v1/search``: filters, paging,
each result's proof verified here, and a tampered result shown failed."""

from __future__ import annotations

import base64
import json

from playwright.sync_api import Page, Route

from tests.console.stack import ORIGIN, Stack, go, pin


def _rows(page: Page) -> list[tuple[int, str, str]]:
    """(index, row text, proof state) of each result row."""
    rows = page.locator("#results tr[data-index]")
    return [(int(rows.nth(i).get_attribute("data-index") or -1), rows.nth(i).inner_text(),
             rows.nth(i).locator("td[data-state]").get_attribute("data-state") or "")
            for i in range(rows.count())]


def test_search_filters_and_verifies_every_result(stack: Stack, page: Page) -> None:
    pin(page, stack.url, [stack.log_vkey, stack.witness_vkey], quorum=1)
    go(page, stack.url, "#/search")
    page.fill("#search-form input[name=actor]", "alice")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-verdict")
    assert page.locator("#search-verdict").get_attribute("data-state") == "verified"
    rows = _rows(page)
    assert [index for index, _, _ in rows] == [2, 0]  # newest first
    assert all(state == "verified" for _, _, state in rows)
    assert "repo.create" in rows[0][1] and "acme/web" in rows[0][1] and "success" in rows[0][1]
    page.click("#results a >> text='0'")
    page.wait_for_selector("#verdict[data-state=verified]")
    assert "repo.delete" in page.inner_text(".record")


def test_search_pages_and_searches_ingested_records(stack: Stack, page: Page) -> None:
    pin(page, stack.url, [stack.log_vkey])
    go(page, stack.url, f"#/search?log={ORIGIN}&action=login&limit=1")
    assert [i for i, _, _ in _rows(page)] == [3]
    page.click("#next-page")
    page.wait_for_selector("#results tr[data-index='1']")
    assert [i for i, _, state in _rows(page)] == [1] and _rows(page)[0][2] == "verified"
    go(page, stack.url, f"#/search?log={ORIGIN}&action=repo.*&order=oldest")
    assert [(i, state) for i, _, state in _rows(page)] == [(0, "verified"), (2, "verified")]
    go(page, stack.url, f"#/search?log={ORIGIN}&actor=svc-payments")
    ((index, text, state),) = _rows(page)
    assert index == 4 and "payment.refund" in text and state == "verified"


def test_a_tampered_search_result_shows_failed(stack: Stack, page: Page) -> None:
    pin(page, stack.url, [stack.log_vkey])

    def flip(route: Route) -> None:
        response = route.fetch()
        answer = json.loads(response.text())
        proof = answer["results"][0]["proof"]
        first = bytearray(base64.b64decode(proof[0]))
        first[-1] ^= 0x80
        proof[0] = base64.b64encode(bytes(first)).decode()
        route.fulfill(response=response, body=json.dumps(answer))

    page.route("**/api/v1/search?*", flip)
    go(page, stack.url, f"#/search?log={ORIGIN}&actor=alice")
    states = [state for _, _, state in _rows(page)]
    assert states == ["failed", "verified"]
    assert "root computed from the inclusion proof" in page.inner_text("#results")


def test_bad_search_input_is_shown_as_the_server_said(stack: Stack, page: Page) -> None:
    go(page, stack.url, f"#/search?log={ORIGIN}&since=yesterday")
    assert "since" in page.inner_text(".error")


def test_a_proven_entry_that_does_not_match_the_filter_shows_failed(stack: Stack,
                                                                    page: Page) -> None:
    """A server answering with a real entry and a valid proof, but not one that was asked for."""
    pin(page, stack.url, [stack.log_vkey])
    bob = stack.api(f"/api/v1/entry?log={ORIGIN}&index=1")

    def swap(route: Route) -> None:
        response = route.fetch()
        answer = json.loads(response.text())
        assert answer["size"] == bob["size"]
        answer["results"][0].update(index=1, entry=bob["entry"], leaf_hash=bob["leaf_hash"],
                                    proof=bob["proof"])
        route.fulfill(response=response, body=json.dumps(answer))

    page.route("**/api/v1/search?*", swap)
    go(page, stack.url, f"#/search?log={ORIGIN}&actor=alice")
    assert [(i, state) for i, _, state in _rows(page)] == [(1, "failed"), (0, "verified")]
    assert "actor is bob, want alice (the filter)" in page.inner_text("#results")
