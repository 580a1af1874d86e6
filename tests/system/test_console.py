"""The operator console at ``/console`` works in a real headless Chromium against a real
``bonus serve``, with no network but this server's: an operator signs in with a program's admin
key, finds a customer by phone, adjusts points with a reason and sees the balance and the
statement change, blocks a card and sees it blocked, saves two versions of the program's rules
(one refused beside its field) and sees their diff, saves a segment and sees its count and
its version with its filter (a refused version beside its JSON path), schedules a campaign
over it through the form and cancels it from its page, sets the manual tier, issues a card,
cancels a till's hold from the card's active holds, opens the customer's messages and sees
the SMS an accrual made, unblocks the first, blocks the account, creates an
API key and sees its secret once, rotates it and sees the new secret once, revokes it, and
opens the partner inbox and webhook pages; a wrong key does not sign in, a POST without the
CSRF token changes nothing, a revoked key's session ends, and the pages render in Russian and
English. Each step is photographed to test-artifacts/console-*.png."""

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.async_api import Page, Route, async_playwright

from processing.runtime import Runtime
from processing.service.messaging.outgoing import MessagePolicy, MessageRelay
from processing.settings import Settings
from tests.system.live import Served, served
from tests.system.test_docs_page import chromium, chromium_args, local_hosts, needs_chromium

artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
phone = "+79120000077"
card = "5077"
new_card = "5078"
# A key revoked through the serving process ends its sessions at once; another process would
# take up to limits.api_key_cache_seconds (2 s), so the test allows a little more.
revocation_wait_seconds = 4.0

pytestmark = needs_chromium


async def call(server: Served, method: str, path: str, key: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": os.urandom(8).hex()}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code < 300, response.text
    return response.json()


async def photograph(page: Page, name: str) -> None:
    artifacts.mkdir(exist_ok=True)
    await page.screenshot(path=str(artifacts / f"console-{name}.png"), full_page=True)


async def sign_in(page: Page, server: Served, key: str) -> None:
    await page.goto(f"{server.base_url}/console")
    assert urlsplit(page.url).path == "/console/sign-in"
    await page.fill("#key", key)
    await page.click("form[action='/console/sign-in'] button")


async def walk(page: Page, server: Served, console_key: str, customer_id: str) -> None:
    await sign_in(page, server, "bk_not-a-key")
    assert "Ключ не подошёл" in await page.locator("[role=alert]").inner_text()
    await photograph(page, "wrong-key")
    await sign_in(page, server, console_key)
    assert urlsplit(page.url).path == "/console"
    assert await page.locator("h1").inner_text() == "Поиск клиента"
    await photograph(page, "search")

    await page.fill("#phone", phone)
    await page.click("form[action='/console'] button")
    assert urlsplit(page.url).path == f"/console/customers/{customer_id}"
    assert await page.locator("#balance-available").inner_text() == "0"
    await photograph(page, "customer")

    await page.fill("#points", "250")
    await page.fill("#reason", "Компенсация за сбой")
    await page.click("form.adjust button")
    assert "Корректировка проведена" in await page.locator("[role=status]").inner_text()
    assert await page.locator("#balance-available").inner_text() == "250"
    statement = await page.locator("table.statement").inner_text()
    assert "Компенсация за сбой" in statement
    assert "корректировка" in statement
    assert "250" in statement
    await photograph(page, "adjusted")

    row = page.locator(f"tr.card[data-card='{card}']")
    await row.locator("input[name=reason]").fill("Карта утеряна")
    await row.locator("button").click()
    assert "Карта заблокирована" in await page.locator("[role=status]").inner_text()
    row = page.locator(f"tr.card[data-card='{card}']")
    assert await row.locator(".card-status").inner_text() == "заблокирована"
    assert "Карта утеряна" in await row.inner_text()
    await photograph(page, "blocked")

    await page.click("a.language:text('EN')")
    assert await page.locator("h2").first.inner_text() == "Balance"
    assert await row.locator(".card-status").inner_text() == "blocked"
    await photograph(page, "english")
    await page.click("a.language:text('RU')")
    assert await page.locator("h2").first.inner_text() == "Баланс"


def rules_json(gold_threshold: int) -> str:
    tiers = [
        {"name": "silver", "threshold_minor": 1000, "earn_bp": 700},
        {"name": "gold", "threshold_minor": gold_threshold, "earn_bp": 1000},
    ]
    return json.dumps({"earning": {"base_bp": 500}, "tiers": tiers}, indent=2)


async def walk_segments(page: Page, server: Served) -> str:
    """A segment saved from the filter's JSON, counted, and its version listed with its filter;
    a refused version shown beside the JSON path it names, nothing saved. Returns the segment's
    id."""
    await page.click("nav.sections a[href='/console/segments']")
    assert await page.locator("h1").first.inner_text() == "Сегменты клиентов"
    await page.fill("#segment-name", "Есть баллы")
    await page.fill("#segment-filter", '{"all": [{"fact": "available", "min": 200}]}')
    await page.click("form.edit-segment button")
    assert "Сегмент сохранён" in await page.locator("[role=status]").inner_text()
    assert "1" in await page.locator("#segment-count strong").inner_text()
    assert await page.locator("tr.member").count() == 1
    version = page.locator("tr.segment-version")
    assert await version.count() == 1
    assert await version.get_attribute("data-version") == "1"
    assert await version.locator("pre.version-filter").is_visible()
    assert '"min": 200' in await version.locator("pre.version-filter").inner_text()
    await photograph(page, "segment")
    refused = '{"all": [{"fact": "expiring_points", "within_days": 0, "min": 1}]}'
    await page.fill("#segment-filter", refused)
    await page.click("form.edit-segment button")
    assert await page.locator("#error-field").inner_text() == "filter.all[0].within_days"
    assert await page.locator("#segment-filter").input_value() == refused
    await photograph(page, "segment-refused")
    segment_id = await page.locator("input[name=segment]").get_attribute("value")
    assert segment_id is not None
    return segment_id


async def walk_campaigns(page: Page, server: Served) -> str:
    """A campaign over the segment scheduled through the form (its start in the future, so no
    worker starts it), seen in the list, opened and cancelled. Returns its id."""
    await page.click("nav.sections a[href='/console/campaigns']")
    assert await page.locator("h1").first.inner_text() == "Кампании"
    await page.fill("#campaign-name", "Осенняя акция")
    await page.select_option("#campaign-segment", label="Есть баллы")
    await page.fill("#campaign-points", "75")
    await page.fill("#campaign-expiry-days", "30")
    await page.fill("#campaign-reason", "Осень")
    await page.fill("#campaign-start", "2099-01-01T09:30")
    await page.click("form.create-campaign button")
    assert "Кампания запланирована" in await page.locator("[role=status]").inner_text()
    row = page.locator("tr.campaign", has_text="Осенняя акция")
    assert await row.locator(".campaign-state").inner_text() == "запланирована"
    assert "Есть баллы" in await row.inner_text()
    assert "2099-01-01 09:30 UTC" in await row.inner_text()
    await photograph(page, "campaigns")
    await row.locator("a.campaign-link").click()
    assert await page.locator("#campaign-points").inner_text() == "75"
    campaign_id = urlsplit(page.url).path.rsplit("/", 1)[-1]
    await page.check("form.cancel-campaign input[name=confirm]")
    await page.click("form.cancel-campaign button")
    assert "Кампания отменена" in await page.locator("[role=status]").inner_text()
    assert await page.locator("#campaign-state").inner_text() == "отменена"
    assert await page.locator("form.cancel-campaign").count() == 0
    await photograph(page, "campaign-cancelled")
    return campaign_id


async def walk_rules(page: Page, server: Served, customer_id: str) -> None:
    """Two versions of the rules saved in the editor, a refused one shown beside its field, the
    diff between the two; then the manual tier set and a card issued on the customer's card."""
    await page.goto(f"{server.base_url}/console/customers/{customer_id}")
    await page.click("nav.sections a[href='/console/rules']")
    assert await page.locator("h1").first.inner_text() == "Правила программы"
    await page.fill("#rules-text", rules_json(5000))
    await page.click("form.edit-rules button")
    assert "Новая версия правил сохранена" in await page.locator("[role=status]").inner_text()
    assert (await page.locator("#rules-version").inner_text()).startswith("Версия 1")
    await photograph(page, "rules")

    await page.fill("#rules-text", rules_json(500))
    await page.click("form.edit-rules button")
    assert await page.locator("#error-field").inner_text() == "tiers[1].threshold_minor"
    assert '"threshold_minor": 500' in await page.locator("#rules-text").input_value()
    await photograph(page, "rules-refused")
    await page.fill("#rules-text", rules_json(7000))
    await page.click("form.edit-rules button")
    assert (await page.locator("#rules-version").inner_text()).startswith("Версия 2")
    await page.click("tr.version[data-version='2'] a.diff-link")
    assert await page.locator("h1").inner_text() == "Отличия версий 1 → 2"
    rows = await page.locator("table.diff tbody tr").all_inner_texts()
    assert len(rows) == 1
    assert "tiers[1].threshold_minor" in rows[0]
    assert "5000" in rows[0]
    assert "7000" in rows[0]
    await photograph(page, "rules-diff")

    await page.goto(f"{server.base_url}/console/customers/{customer_id}")
    await page.select_option("#tier-name", "gold")
    await page.fill("#tier-reason", "Партнёр программы")
    await page.click("form.set-tier button")
    assert "Ручной уровень назначен" in await page.locator("[role=status]").inner_text()
    assert await page.locator("#tier-current").inner_text() == "gold"
    assert await page.locator("#tier-floor").inner_text() == "gold"
    await photograph(page, "tier")
    await page.fill("#new-card", new_card)
    await page.click("form.issue-card button")
    assert "Карта выпущена" in await page.locator("[role=status]").inner_text()
    assert await page.locator(f"tr.card[data-card='{new_card}']").count() == 1
    await photograph(page, "card-issued")


async def walk_hold(page: Page, server: Served, customer_id: str) -> str:
    """A till's hold listed on the customer's card and cancelled from it. Returns its id."""
    hold = await call(
        server,
        "POST",
        f"/v1/customers/{customer_id}/holds",
        server.pos_key,
        {"points": 100, "document": {"id": "console-cheque-1"}},
    )
    await page.goto(f"{server.base_url}/console/customers/{customer_id}")
    assert await page.locator("#balance-reserved").inner_text() == "100"
    row = page.locator(f"tr.hold[data-hold='{hold['id']}']")
    assert "console-cheque-1" in await row.inner_text()
    await photograph(page, "hold")
    await row.locator("form.cancel-hold button").click()
    assert "Резерв отменён" in await page.locator("[role=status]").inner_text()
    assert await page.locator("tr.hold").count() == 0
    assert await page.locator("#balance-reserved").inner_text() == "0"
    assert await page.locator("#balance-available").inner_text() == "250"
    await photograph(page, "hold-cancelled")
    return str(hold["id"])


async def walk_messages(page: Page, server: Served, settings: Settings, customer_id: str) -> None:
    """An accrual told by SMS (a transactional trigger; the relay run here, since the served
    process runs none), then seen on the customer's messages page opened from the card."""
    program = f"/v1/programs/{server.program_id}"
    await call(server, "PUT", f"{program}/message-settings", server.admin_key,
        {"time_zone": "UTC", "quiet_start_minute": 0, "quiet_end_minute": 0})  # fmt: skip
    await call(server, "PUT", f"{program}/triggers/points_accrued", server.admin_key,
        {"enabled": True, "kind": "transactional",
         "templates": [{"channel": "sms", "body": "+{{ points }} баллов"}]})  # fmt: skip
    await call(server, "POST", f"/v1/customers/{customer_id}/accruals", server.pos_key,
        {"points": 100, "document": {"id": "console-receipt-1"}})  # fmt: skip
    runtime = await Runtime.open(settings)
    try:
        async with runtime.database.transaction() as store:
            await store.fan_out(100)
        relay = MessageRelay(
            runtime.database, runtime.message_channels, runtime.triggers, MessagePolicy()
        )
        while await relay.run_once():
            pass
    finally:
        await runtime.close()

    await page.goto(f"{server.base_url}/console/customers/{customer_id}")
    await page.click("a.messages-link")
    assert urlsplit(page.url).path == f"/console/customers/{customer_id}/messages"
    assert await page.locator("h1").inner_text() == f"Сообщения клиента {phone}"
    row = page.locator("tr.customer-message")
    assert await row.count() == 1
    assert await row.locator(".message-channel").inner_text() == "SMS"
    assert await row.locator(".message-trigger").inner_text() == "начисление баллов"
    assert await row.locator(".message-state").inner_text() == "отправлено"
    assert await row.locator(".message-recipient").inner_text() == phone
    await photograph(page, "messages")


async def walk_further(page: Page, server: Served, customer_id: str) -> str:
    """The card unblocked, the account blocked, a key created (its secret seen once), given a
    new secret (seen once too) and revoked, the partner and webhook pages opened. Returns the
    revoked key's newest secret."""
    await page.goto(f"{server.base_url}/console/customers/{customer_id}")
    row = page.locator(f"tr.card[data-card='{card}']")
    await row.locator("form.unblock-card input[name=reason]").fill("Карта нашлась")
    await row.locator("form.unblock-card button").click()
    assert "Карта разблокирована" in await page.locator("[role=status]").inner_text()
    row = page.locator(f"tr.card[data-card='{card}']")
    assert await row.locator(".card-status").inner_text() == "активна"
    await photograph(page, "unblocked")

    await page.fill("form.account-block input[name=reason]", "Проверка службы безопасности")
    await page.click("form.account-block button")
    assert "Счёт заблокирован" in await page.locator("[role=status]").inner_text()
    account = await page.locator("#account-status").inner_text()
    assert account == "заблокирован: Проверка службы безопасности"
    await photograph(page, "account-blocked")

    await page.click("nav.sections a[href='/console/keys']")
    assert await page.locator("h1").inner_text() == "API-ключи программы"
    await page.fill("#key-name", "Касса 2")
    await page.check("input[name=scope_pos]")
    await page.fill("#key-store", "store-2")
    await page.click("form.create-key button")
    assert await page.locator("h1").inner_text() == "Ключ создан"
    secret = await page.locator("#secret").inner_text()
    assert secret.startswith("bk_")
    await photograph(page, "key-created")
    await page.click("a[href^='/console/keys?program=']")
    assert secret not in await page.content()
    row = page.locator("tr.key", has_text="Касса 2")
    await row.locator("form.rotate-key button").click()
    assert await page.locator("h1").inner_text() == "Ключу выдан новый секрет"
    rotated = await page.locator("#secret").inner_text()
    assert rotated.startswith("bk_")
    assert rotated != secret
    await photograph(page, "key-rotated")
    await page.click("a[href^='/console/keys?program=']")
    assert rotated not in await page.content()
    row = page.locator("tr.key", has_text="Касса 2")
    await row.locator("form.revoke-key input[name=confirm]").check()
    await row.locator("form.revoke-key button").click()
    assert "Ключ отозван" in await page.locator("[role=status]").inner_text()
    row = page.locator("tr.key", has_text="Касса 2")
    assert "отозван" in await row.locator(".key-status").inner_text()
    assert rotated not in await page.content()
    await photograph(page, "key-revoked")

    await page.click("nav.sections a[href='/console/connections']")
    assert await page.locator("h1").inner_text() == "Подключения партнёров"
    await photograph(page, "connections")
    await page.click("nav.sections a[href='/console/webhooks']")
    assert await page.locator("h1").inner_text() == "Подписки на вебхуки"
    await photograph(page, "webhooks")
    return secret


async def test_an_operator_adjusts_points_and_blocks_a_card(
    tmp_path: Path, settings: Settings
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
        minted = await call(
            server,
            "POST",
            "/v1/api-keys",
            server.admin_key,
            {"program_id": server.program_id, "name": "console", "scopes": ["admin"]},
        )
        enrolled = await call(
            server, "POST", "/v1/customers", server.pos_key, {"phone": phone, "card_number": card}
        )
        customer_id = enrolled["id"]
        browser = await playwright.chromium.launch(executable_path=chromium, args=chromium_args)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.route("**/*", local_only)
            page.on("requestfailed", lambda request: failed.append(request.url))
            await walk(page, server, minted["key"], customer_id)

            # A form post without the session's CSRF token is refused and changes nothing.
            forged = await page.request.post(
                f"{server.base_url}/console/customers/{customer_id}/adjustments",
                form={"form_key": "f" * 24, "points": "1000", "reason": "forged"},
            )
            assert forged.status == 403
            balance = await call(
                server, "GET", f"/v1/customers/{customer_id}/balance", server.all_scopes_key
            )
            assert balance["available"] == 250
            journal = await call(server, "GET", f"/v1/cards/{card}", server.all_scopes_key)
            assert journal["status"] == "blocked"
            assert journal["reason"] == "Карта утеряна"

            await walk_rules(page, server, customer_id)
            rules = await call(
                server, "GET", f"/v1/programs/{server.program_id}/rules", server.admin_key
            )
            assert rules["version"] == 2
            tier = await call(
                server, "GET", f"/v1/customers/{customer_id}/tier", server.all_scopes_key
            )
            assert tier["tier_floor"] == "gold"

            segment_id = await walk_segments(page, server)
            versions = await call(
                server, "GET", f"/v1/segments/{segment_id}/versions", server.admin_key
            )
            assert [version["version"] for version in versions["items"]] == [1]
            campaign_id = await walk_campaigns(page, server)
            campaign = await call(server, "GET", f"/v1/campaigns/{campaign_id}", server.admin_key)
            assert (campaign["state"], campaign["points"]) == ("cancelled", 75)
            assert campaign["starts_at"] == "2099-01-01T09:30:00Z"

            hold_id = await walk_hold(page, server, customer_id)
            hold = await call(server, "GET", f"/v1/holds/{hold_id}", server.pos_key)
            assert hold["status"] == "cancelled"

            await walk_messages(page, server, settings, customer_id)

            secret = await walk_further(page, server, customer_id)
            journal = await call(server, "GET", f"/v1/cards/{card}", server.all_scopes_key)
            assert (journal["status"], journal["reason"]) == ("active", "Карта нашлась")
            customer = await call(
                server, "GET", f"/v1/customers/{customer_id}", server.all_scopes_key
            )
            assert customer["blocked_reason"] == "Проверка службы безопасности"
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
                revoked = await client.get(
                    "/v1/customers", headers={"Authorization": f"Bearer {secret}"}
                )
            assert revoked.status_code == 401

            # Revoking the key ends its session: the next page is the sign-in page.
            await call(server, "DELETE", f"/v1/api-keys/{minted['id']}", server.admin_key)
            for _ in range(int(revocation_wait_seconds * 4)):
                await page.goto(f"{server.base_url}/console/customers/{customer_id}")
                if urlsplit(page.url).path == "/console/sign-in":
                    break
                await asyncio.sleep(0.25)
            assert urlsplit(page.url).path == "/console/sign-in"
            assert "Сессия завершена" in await page.locator("[role=alert]").inner_text()
            await photograph(page, "signed-out")
        finally:
            await browser.close()
    assert blocked == []
    assert failed == []
