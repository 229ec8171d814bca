"""Take the console's screenshots for the README: ``python -m tools.screenshots`` starts a log
server and a witness on 127.0.0.1 (``tests.console.stack``), pins their keys in Debian's
chromium, and writes docs/img/console-overview.png and docs/img/console-entry.png."""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.console.stack import CHROMIUM, CHROMIUM_ARGS, ORIGIN, console_stack, go, pin

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, console_stack(Path(scratch)) as stack, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        pin(page, stack.url, [stack.log_vkey, stack.witness_vkey], quorum=1)
        go(page, stack.url, "#/")
        page.screenshot(path=OUT / "console-overview.png", full_page=True)
        go(page, stack.url, f"#/entry?log={ORIGIN}&index=0")
        page.screenshot(path=OUT / "console-entry.png", full_page=True)
        browser.close()
    print(f"wrote {OUT / 'console-overview.png'} and {OUT / 'console-entry.png'}")


if __name__ == "__main__":
    main()
