"""The enrollment page in a real headless Chromium, on a phone-sized screen, against a real
``bonus serve`` whose SMS go to a local gateway that records them: a person types their phone,
reads the code from the SMS, fills in the form, ticks one consent and joins; they see the
welcome bonus and their card's QR code, and the card's number identifies them at the till
(``/pos/v1/identify``). Nothing is loaded from another host and nothing is wider than the
screen; each step is photographed to test-artifacts/enrollment-*.png."""

import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.async_api import Page, Route, async_playwright

from processing.settings import Settings
from tests.fakes.webhook_receiver import webhook_receiver
from tests.system.live import served
from tests.system.test_docs_page import chromium, chromium_args, local_hosts, needs_chromium

artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
phone_width = 375

pytestmark = needs_chromium


async def photograph(page: Page, name: str) -> None:
    artifacts.mkdir(exist_ok=True)
    await page.screenshot(path=str(artifacts / f"enrollment-{name}.png"), full_page=True)


async def fits_the_screen(page: Page) -> bool:
    width = await page.evaluate("document.documentElement.scrollWidth")
    return bool(width <= phone_width)


async def test_a_person_joins_on_a_phone_and_their_card_identifies_them_at_the_till(
    tmp_path: Path, settings: Settings
) -> None:
    assert shutil.which(chromium), "CI must have chromium: `make chromium` installs it"
    blocked: list[str] = []

    async def local_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname in local_hosts:
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    async with (
        webhook_receiver() as gateway,
        served(tmp_path, settings, sms_provider="http", sms_url=gateway.url) as server,
        async_playwright() as playwright,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        admin = {"Authorization": f"Bearer {server.admin_key}"}
        rules = await client.put(
            f"/v1/programs/{server.program_id}/rules",
            json={"bonuses": {"welcome": 300}},
            headers=admin | {"Idempotency-Key": "rules-1"},
        )
        assert rules.status_code == 200, rules.text
        opened = await client.put(
            f"/v1/programs/{server.program_id}/enrollment-page",
            json={
                "slug": "coffee",
                "enabled": True,
                "display_name": "Кофейный клуб",
                "terms": "Баллы за покупки: 5 %. Оператор: ООО «Кофе».",
                "sms_wording": "Согласен получать SMS с предложениями клуба",
                "email_wording": "Согласен получать письма с предложениями клуба",
            },
            headers=admin | {"Idempotency-Key": "page-1"},
        )
        assert opened.status_code == 200, opened.text

        browser = await playwright.chromium.launch(executable_path=chromium, args=chromium_args)
        try:
            page = await browser.new_page(viewport={"width": phone_width, "height": 740})
            await page.route("**/*", local_only)
            await page.goto(f"{server.base_url}/join/coffee")
            await page.get_by_label("Телефон").fill("+7 912 555-00-01")
            await photograph(page, "phone")
            assert await fits_the_screen(page)
            await page.get_by_role("button", name="Получить код").click()
            await page.get_by_text("Код отправлен").wait_for()

            text = json.loads(gateway.received[-1].body)["text"]
            found = re.search(r"\b(\d{6})\b", text)
            assert found, text
            await page.get_by_label("Код из SMS").fill(found.group(1))
            await page.get_by_label("Имя").fill("Анна")
            await page.get_by_label("День рождения").fill("1990-05-01")
            await page.get_by_label("Согласен получать SMS").check()
            await photograph(page, "details")
            assert await fits_the_screen(page)
            await page.get_by_role("button", name="Вступить").click()

            await page.get_by_text("Добро пожаловать").wait_for()
            assert await page.locator("dd.available").inner_text() == "300"
            assert await page.locator("figure.qr svg").count() == 1
            number = await page.locator(".card-number").inner_text()
            await photograph(page, "card")
            assert await fits_the_screen(page)
        finally:
            await browser.close()

        identified = await client.post(
            "/pos/v1/identify",
            json={"identifier": {"type": "qr", "value": number.strip()}},
            headers={"Authorization": f"Bearer {server.pos_key}"},
        )
        assert identified.status_code == 200, identified.text
        assert identified.json()["name"] == "Анна"
        assert identified.json()["balance"]["available"] == 300
    assert blocked == []
