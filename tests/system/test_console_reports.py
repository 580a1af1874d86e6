"""The console's reports page in a real headless Chromium against a real ``bonus serve``: after
purchases at a till, a return and a points accrual are relayed into the rollups, the page draws
the points, liability, members and purchases charts as inline SVG with the figures the report
routes answer, offers each report's CSV, and refuses a window it cannot read beside the field
it names. Nothing is loaded from another host. Photographed to test-artifacts/console-*.png."""

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Page, Route, async_playwright

from processing.runtime import Runtime
from processing.settings import Settings
from tests.api.test_reports import moscow_today
from tests.system.live import Served, served
from tests.system.test_console import call, photograph, sign_in
from tests.system.test_docs_page import chromium, chromium_args, local_hosts, needs_chromium

pytestmark = needs_chromium
rules = {
    "point_value_minor": 100,
    "earning": {"base_bp": 1000},
    "activation_delay_days": 0,
    "tiers": [
        {"name": "silver", "threshold_minor": 0, "earn_bp": 1000},
        {"name": "gold", "threshold_minor": 300_000, "earn_bp": 1500},
    ],
}


def line(line_id: str, rubles: int) -> dict[str, Any]:
    return {
        "line_id": line_id,
        "sku": line_id,
        "category": "goods",
        "quantity": 1,
        "unit_price_minor": rubles * 100,
    }


async def seed(server: Served, settings: Settings) -> None:
    """Three customers: two buy (one twice, past gold), one return; all relayed."""
    path = f"/v1/programs/{server.program_id}/rules"
    await call(server, "PUT", path, server.admin_key, rules)
    customers = []
    for n in range(3):
        enrolled = await call(
            server, "POST", "/v1/customers", server.pos_key, {"phone": f"+7912555000{n}"}
        )
        customers.append(enrolled["id"])
    bought = []
    for n, (customer, rubles) in enumerate(
        [(customers[0], 1000), (customers[0], 2500), (customers[1], 700)]
    ):
        body = {"document": {"id": f"R-{n}"}, "lines": [line("a", rubles), line("b", 100)]}
        made = await call(
            server, "POST", f"/v1/customers/{customer}/purchases", server.pos_key, body
        )
        bought.append(made["operation"]["id"])
    back = {"document": {"id": "RET-1"}, "lines": [{"line_id": "b", "quantity": 1}]}
    await call(server, "POST", f"/v1/operations/{bought[2]}/refunds", server.pos_key, back)
    accrual = {"points": 40, "document": {"id": "welcome-2"}}
    await call(server, "POST", f"/v1/customers/{customers[2]}/accruals", server.pos_key, accrual)
    runtime = await Runtime.open(settings)
    try:
        while True:
            async with runtime.database.transaction() as store:
                events, _ = await store.fan_out(500)
            if not events:
                break
    finally:
        await runtime.close()


async def bar_values(page: Page, chart: str, series: str) -> list[int]:
    bars = page.locator(f"svg[data-chart='{chart}'] g[data-series='{series}'] rect.bar")
    return [
        int(value or 0)
        for value in await bars.evaluate_all(
            "bars => bars.map(bar => bar.getAttribute('data-value'))"
        )
    ]


async def walk_reports(page: Page, server: Served) -> None:
    today = moscow_today()
    first = (today - timedelta(days=40)).replace(day=1)
    window = {"from": first.isoformat(), "to": today.isoformat(), "period": "month"}
    base = f"/v1/programs/{server.program_id}/reports"
    query = "&".join(f"{name}={value}" for name, value in window.items())
    points = await call(server, "GET", f"{base}/points?{query}", server.admin_key)
    members = await call(server, "GET", f"{base}/members?{query}", server.admin_key)
    purchases = await call(server, "GET", f"{base}/purchases?{query}", server.admin_key)
    assert purchases["totals"]["purchases"] == 3

    await page.click("nav.sections a[href='/console/reports']")
    assert await page.locator("h1").inner_text() == "Отчёты программы"
    # Twelve months by month unless asked: this month's bar holds everything.
    assert await page.locator("svg.chart").count() == 6
    await page.fill("#report-from", first.isoformat())
    await page.fill("#report-to", today.isoformat())
    await page.select_option("#report-period", "month")
    await page.click("form.report-window button")
    assert urlsplit(page.url).path == "/console/reports"
    months = [row["period"] for row in members["rows"]]

    def by_month(rows: list[dict[str, Any]], name: str) -> list[int]:
        found = {row["period"]: row[name] for row in rows}
        return [found.get(month, 0) for month in months]

    assert await bar_values(page, "points", "Начислено") == by_month(points["rows"], "issued")
    assert sum(await bar_values(page, "points", "Начислено")) == points["totals"]["issued"] > 0
    assert await bar_values(page, "purchases", "Покупки") == by_month(
        purchases["rows"], "purchases"
    )
    assert await bar_values(page, "purchases", "Возвраты") == by_month(purchases["rows"], "returns")
    assert await bar_values(page, "money", "Оплачено деньгами") == by_month(
        purchases["rows"], "money_minor"
    )
    assert await bar_values(page, "members", "Новые") == by_month(members["rows"], "new_members")
    assert await bar_values(page, "members", "Активные") == by_month(
        members["rows"], "active_members"
    )
    held = page.locator("svg[data-chart='liability'] circle.point")
    assert await held.last.get_attribute("data-value") == str(
        (await call(server, "GET", f"{base}/liability?on={today}", server.admin_key))[
            "outstanding_points"
        ]
    )

    # Each point is the liability at its period's end, as the API answers it for that day.
    def month_end(month: str) -> date:
        next_month = (date.fromisoformat(month).replace(day=28) + timedelta(days=4)).replace(day=1)
        return min(next_month - timedelta(days=1), today)

    ends = [month_end(month) for month in months]
    owed = [
        str(
            (await call(server, "GET", f"{base}/liability?on={end}", server.admin_key))[
                "outstanding_points"
            ]
        )
        for end in ends
    ]
    assert (
        await held.evaluate_all("points => points.map(p => p.getAttribute('data-value'))") == owed
    )
    totals = page.locator("dl[data-report='purchases']")
    assert await totals.locator("[data-figure='purchasing_customers']").inner_text() == "2"
    assert await totals.locator("[data-figure='repeat_customers']").inner_text() == "1"
    assert await totals.locator("[data-figure='repeat_rate_bp']").inner_text() == "50 %"
    tiers = page.locator("table.tiers tr[data-tier='gold'] td")
    assert await tiers.inner_text() == "1"
    assert await page.locator("svg[data-chart='points'] title").first.text_content()
    await photograph(page, "reports")

    for name in ("points", "liability", "members", "purchases"):
        link = page.locator(f"a.csv[data-report='{name}']")
        href = await link.get_attribute("href")
        assert href is not None
        download = await page.request.get(f"{server.base_url}{href}")
        assert download.status == 200, (name, await download.text())
        assert download.headers["content-type"].startswith("text/csv")
        assert (await download.text()).startswith("\ufeffscope;")

    await page.fill("#report-from", today.isoformat())
    await page.fill("#report-to", (today - timedelta(days=1)).isoformat())
    await page.click("form.report-window button")
    error = page.locator(".field-error")
    assert await error.get_attribute("data-field") == "to"
    assert await page.locator("#report-to").get_attribute("aria-invalid") == "true"
    assert await page.locator("svg.chart").count() == 0
    await photograph(page, "reports-refused")
    await page.goto(
        f"{server.base_url}/console/reports?from=2026-01-01&to=2026-12-31&period=day&lang=en"
    )
    assert await page.locator(".field-error").get_attribute("data-field") == "period"
    assert "at most 62 periods" in await page.locator(".field-error").inner_text()
    await page.goto(f"{server.base_url}/console/reports?from=yesterday")
    assert await page.locator(".field-error").get_attribute("data-field") == "from"


async def test_the_reports_page_draws_the_programs_figures(
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
        await seed(server, settings)
        minted = await call(
            server,
            "POST",
            "/v1/api-keys",
            server.admin_key,
            {"program_id": server.program_id, "name": "reports", "scopes": ["admin"]},
        )
        console_key = minted["key"]
        browser = await playwright.chromium.launch(executable_path=chromium, args=chromium_args)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.route("**/*", local_only)
            await sign_in(page, server, console_key)
            await walk_reports(page, server)
        finally:
            await browser.close()
    assert not blocked
