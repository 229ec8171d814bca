"""Fixtures for the console's browser tests: one chromium (Debian's, driven by Playwright) for
the package, one server stack (``tests.console.stack``) for the package, and a fresh browser
context (empty storage) for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.console.stack import CHROMIUM, CHROMIUM_ARGS, Stack, console_stack


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with console_stack(tmp_path_factory.mktemp("console")) as stack:
        yield stack


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # The package's scope, not the session's: Playwright's sync API keeps an event loop running
    # in this thread while it is open, and tests elsewhere call asyncio.run.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(accept_downloads=True)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


