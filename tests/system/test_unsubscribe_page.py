"""The unsubscribe page in a real headless Chromium against a real ``bonus serve``: a person
opens the link from a marketing e-mail's text, sees the question (nothing withdrawn yet),
presses the one button and sees the answer; the consent log then says "unsubscribe". Nothing is
loaded from any other host; each step is photographed to test-artifacts/unsubscribe-*.png."""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from playwright.async_api import Page, Route, async_playwright

from processing.core.triggers import Channel
from processing.runtime import Runtime
from processing.settings import Settings
from tests.system.live import Served, served
from tests.system.test_docs_page import chromium, chromium_args, local_hosts, needs_chromium

artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = needs_chromium


async def consented_customer(server: Served) -> tuple[str, httpx.AsyncClient]:
    client = httpx.AsyncClient(base_url=server.base_url, timeout=30)
    headers = {"Authorization": f"Bearer {server.pos_key}"}
    enrolled = await client.post(
        "/v1/customers",
        json={"phone": "+79127000011"},
        headers=headers | {"Idempotency-Key": os.urandom(8).hex()},
    )
    assert enrolled.status_code == 201, enrolled.text
    customer: str = enrolled.json()["id"]
    given = await client.post(
        f"/v1/customers/{customer}/consents",
        json={"channel": "email", "granted": True, "source": "web"},
        headers=headers | {"Idempotency-Key": os.urandom(8).hex()},
    )
    assert given.status_code == 201, given.text
    return customer, client


async def email_consent(client: httpx.AsyncClient, server: Served, customer: str) -> object:
    page = await client.get(
        f"/v1/customers/{customer}/consents",
        headers={"Authorization": f"Bearer {server.pos_key}"},
    )
    assert page.status_code == 200, page.text
    return next(
        (entry["granted"], entry["source"])
        for entry in page.json()["in_force"]
        if entry["channel"] == "email"
    )


async def photograph(page: Page, name: str) -> None:
    artifacts.mkdir(exist_ok=True)
    await page.screenshot(path=str(artifacts / f"unsubscribe-{name}.png"), full_page=True)


async def test_a_person_unsubscribes_from_the_link_in_an_email(
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

    async with served(tmp_path, settings) as server, async_playwright() as playwright:
        customer, client = await consented_customer(server)
        # The link the e-mail's text carries, made with the server's own keys.
        opened = await Runtime.open(settings)
        try:
            link = opened.unsubscribes.unsubscribe_page_url(UUID(customer), Channel.email)
        finally:
            await opened.close()
        address = server.base_url + urlsplit(link).path
        browser = await playwright.chromium.launch(executable_path=chromium, args=chromium_args)
        try:
            page = await browser.new_page(viewport={"width": 900, "height": 600})
            await page.route("**/*", local_only)
            await page.goto(address)
            await page.get_by_text("Больше не получать письма").wait_for()
            await photograph(page, "asked")
            assert await email_consent(client, server, customer) == (True, "web")

            await page.get_by_role("button", name="Отписаться").click()
            await page.get_by_text("вы отписались").wait_for()
            await photograph(page, "done")
        finally:
            await browser.close()
        assert await email_consent(client, server, customer) == (False, "unsubscribe")
        await client.aclose()
    assert blocked == []
