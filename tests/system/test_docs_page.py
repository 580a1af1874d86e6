"""The browsable API docs at ``/schema`` render in a real headless Chromium with no network but
this server's: Swagger UI's script and style come from the package, not a CDN. Every request
the page makes to any other host is blocked and recorded, and none may be needed. The page is
photographed to test-artifacts/docs-page.png for a person to look at."""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Page, Route, async_playwright

from processing.settings import Settings
from tests.system.live import served

chromium = "/usr/bin/chromium"
chromium_args = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
local_hosts = {"127.0.0.1", "localhost", "::1", "[::1]"}
artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
render_timeout_ms = 30_000
# Swagger UI draws a long document's operations as they scroll into view (a virtual list since
# 5.x): the test scrolls this far at a time, waiting this long for each step to be drawn.
scroll_step_px = 600
scroll_settle_ms = 150
http_methods = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})

# Each drawn operation as "METHOD /path", read off its summary row.
_drawn_operations = """rows => rows.map(row => {
  const method = row.querySelector('.opblock-summary-method');
  const path = row.querySelector('.opblock-summary-path');
  const text = path && (path.getAttribute('data-path') || path.textContent);
  return method && text ? method.textContent.trim() + ' ' + text.replace(/\u200b/g, '') : '';
})"""

# Every page test runs in a real headless Chromium; a machine without it skips them, which fails
# the run unless skips are allowed (tests/skips.py), and CI must have it (below).
needs_chromium = pytest.mark.skipif(
    shutil.which(chromium) is None and not os.environ.get("CI"),
    reason="chromium is not installed (`make test` installs it from Debian's packages as root)",
)
pytestmark = needs_chromium


async def test_the_docs_page_renders_offline(tmp_path: Path, settings: Settings) -> None:
    assert shutil.which(chromium), "CI must have chromium: `make chromium` installs it"
    blocked: list[str] = []
    failed: list[str] = []

    async def local_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname in local_hosts:
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    async with served(tmp_path, settings) as server, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=chromium_args)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.route("**/*", local_only)
            page.on("requestfailed", lambda request: failed.append(request.url))
            response = await page.goto(f"{server.base_url}/schema")
            assert response is not None
            assert response.status == 200
            await page.wait_for_selector(".opblock-summary", timeout=render_timeout_ms)
            await page.wait_for_load_state("networkidle")
            title = await page.locator(".info .title").inner_text()
            artifacts.mkdir(exist_ok=True)
            await page.screenshot(path=str(artifacts / "docs-page.png"), full_page=False)
            drawn = await operations_drawn(page)
            published = await published_operations(server.base_url)
        finally:
            await browser.close()
    assert blocked == []
    assert failed == []
    assert "Bonus processing center" in title
    # Every operation of the published document is drawn somewhere on the page.
    assert drawn >= published, sorted(published - drawn)[:10]


async def operations_drawn(page: Page) -> set[str]:
    """Scrolls the page to its end, collecting every operation drawn on the way."""
    drawn: set[str] = set()
    previous = -1.0
    while True:
        rows = await page.eval_on_selector_all(".opblock-summary", _drawn_operations)
        drawn.update(row for row in rows if row)
        position = float(await page.evaluate("window.scrollY"))
        if position == previous:
            return drawn
        previous = position
        await page.evaluate(f"window.scrollBy(0, {scroll_step_px})")
        await page.wait_for_timeout(scroll_settle_ms)


async def published_operations(base_url: str) -> set[str]:
    async with httpx.AsyncClient() as client:
        document = (await client.get(f"{base_url}/schema/openapi.json")).json()
    return {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in http_methods
    }
