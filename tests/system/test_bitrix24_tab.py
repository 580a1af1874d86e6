"""The Bitrix24 tab in a real headless Chromium: a fake portal's CRM card frames our tab and
submits the placement request into it as the portal does, against a real ``bonus serve`` with
our application installed through an install link. The contact's tab shows the customer's
balance and cards and blocks a card; the deal's tab (in English) asks for points to be written
off on the deal; a request with a token the portal never issued gets the refusal page. Nothing
is loaded from any host but these two, and each step is photographed to
test-artifacts/bitrix24-tab-*.png."""

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import FrameLocator, Page, Route, async_playwright

from processing.settings import Settings
from tests.fakes.bitrix24 import FakeBitrix24
from tests.system.live import Served, served
from tests.system.test_docs_page import chromium, chromium_args, local_hosts, needs_chromium

artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
phone = "+79120000088"
card = "8801"

pytestmark = needs_chromium


@pytest.fixture
async def portal() -> AsyncIterator[FakeBitrix24]:
    fake = FakeBitrix24()
    runner = await fake.start()
    fake.domain = fake.base.removeprefix("http://")
    yield fake
    await runner.cleanup()


async def prepare(server: Served, portal: FakeBitrix24) -> None:
    """A customer with a card and 300 points, and our application installed on the portal."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:

        def headers(key: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {key}", "Idempotency-Key": os.urandom(8).hex()}

        enrolled = await client.post(
            "/v1/customers", json={"phone": phone, "card_number": card},
            headers=headers(server.pos_key),
        )  # fmt: skip
        assert enrolled.status_code == 201, enrolled.text
        accrued = await client.post(
            f"/v1/customers/{enrolled.json()['id']}/accruals",
            json={"points": 300, "document": {"id": "welcome-1"}},
            headers=headers(server.pos_key),
        )
        assert accrued.status_code == 201, accrued.text
        link = await client.post(
            f"/v1/programs/{server.program_id}/bitrix24/installs",
            headers=headers(server.admin_key),
        )
        assert link.status_code == 201, link.text
        access, refresh = portal.issue_pair()
        installed = await client.post(
            f"{urlsplit(link.json()['install_url']).path}?{portal.install_query}",
            content=portal.install_form(access, refresh),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert installed.status_code == 200, installed.text


async def photograph(page: Page, name: str) -> None:
    artifacts.mkdir(exist_ok=True)
    await page.screenshot(path=str(artifacts / f"bitrix24-tab-{name}.png"), full_page=True)


async def open_card(page: Page, portal: FakeBitrix24, path: str) -> FrameLocator:
    await page.goto(f"{portal.base}{path}")
    frame = page.frame_locator("iframe[name=placement]")
    await frame.locator("h1").wait_for()
    return frame


async def walk(page: Page, portal: FakeBitrix24) -> None:
    contact = portal.contact(phone)
    frame = await open_card(page, portal, f"/crm/contact/details/{contact}/")
    assert await frame.locator("h1").inner_text() == "Бонусы клиента"
    assert await frame.locator("#balance-available").inner_text() == "300"
    assert await frame.locator("#contact-phone").inner_text() == phone
    await photograph(page, "contact")

    row = frame.locator(f"tr.card[data-card='{card}']")
    await row.locator("input[name=reason]").fill("Карта утеряна")
    await row.locator("button").click()
    assert "Карта заблокирована" in await frame.locator("[role=status]").inner_text()
    assert await frame.locator(f"tr.card[data-card='{card}'] .card-status").inner_text() == (
        "заблокирована"
    )
    await photograph(page, "card-blocked")

    deal = portal.deal(contact, "10000.00")
    frame = await open_card(page, portal, f"/crm/deal/details/{deal}/?lang=en")
    assert await frame.locator("h1").inner_text() == "Customer's points"
    await frame.locator("#writeoff-points").fill("100")
    await frame.locator("form.writeoff button").click()
    notice = await frame.locator("[role=status]").inner_text()
    assert "100 points requested to be written off" in notice
    assert portal.deals[deal]["UF_CRM_LOYALTY_WRITEOFF"] == "100"
    await photograph(page, "deal")

    frame = await open_card(page, portal, f"/crm/contact/details/{contact}/?forged=1")
    assert "не подтверждён порталом" in await frame.locator("[role=alert]").inner_text()
    assert await frame.locator("#balance-available").count() == 0
    await photograph(page, "refused")


async def test_the_tab_renders_in_the_portal_from_its_placement_request(
    tmp_path: Path, settings: Settings, portal: FakeBitrix24
) -> None:
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
        await prepare(server, portal)
        browser = await playwright.chromium.launch(executable_path=chromium, args=chromium_args)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 900})
            await page.route("**/*", local_only)
            page.on("requestfailed", lambda request: failed.append(request.url))
            await walk(page, portal)
        finally:
            await browser.close()
    assert blocked == []
    assert failed == []
