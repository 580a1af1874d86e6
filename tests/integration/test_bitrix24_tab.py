"""The customer card in a Bitrix24 portal's tabs, through our API against a fake portal: a
placement request as the portal sends it is verified against the portal and shows the contact's
customer (balance, tier, expiring points, cards, statement), framed by the portal only; its
forms issue and block cards once per form and put points to write off on the deal, which the
channel then spends. A request the portal did not send (unknown portal, made-up, expired or
foreign token, a forged application token, a portal that is gone or down) gets a page saying
so and opens nothing; a form without its tab session's CSRF token changes nothing."""

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from processing.adapters.redis.locks import create_client
from processing.settings import Settings
from tests.conftest import Api
from tests.fakes.bitrix24 import FakeBitrix24
from tests.integration.test_bitrix24_app import (
    fake_portal,
    form_type,
    install,
    install_link,
    rules,
    with_oauth,
)

phone = "+79120000001"


@pytest.fixture
async def portal() -> AsyncIterator[FakeBitrix24]:
    async with fake_portal() as fake:
        yield fake


@pytest.fixture
def settings(settings: Settings, portal: FakeBitrix24) -> Settings:
    return with_oauth(settings, portal)


def field(page: str, name: str, form_class: str) -> str:
    """A hidden field's value in the first form of ``form_class``."""
    form = re.search(rf'<form[^>]*class="inline {form_class}"[^>]*>(.*?)</form>', page, re.S)
    assert form is not None, page
    found = re.search(rf'name="{name}" value="([^"]*)"', form.group(1))
    assert found is not None, form.group(1)
    return found.group(1)


def text_of(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert found is not None, page
    return found.group(1).strip()


async def open_tab(
    client: httpx.AsyncClient,
    portal: FakeBitrix24,
    placement: str,
    entity_id: str,
    lang: str = "ru",
    **changes: str,
) -> httpx.Response:
    access, _ = portal.issue_pair()
    query, form = portal.placement_request(placement, entity_id, access, lang)
    form |= changes
    return await client.post(f"/apps/bitrix24/tab?{query}", data=form)


async def act(client: httpx.AsyncClient, page: str, form_class: str, **fields: str) -> Any:
    values = {
        name: field(page, name, form_class) for name in ("session", "csrf", "form_key", "action")
    }
    if "number" not in fields and 'name="number"' in page and "card" in form_class:
        values["number"] = field(page, "number", form_class)
    return await client.post("/apps/bitrix24/tab/action", data=values | fields)


async def installed(api: Api, portal: FakeBitrix24) -> None:
    response = await install(api.client, await install_link(api), portal)
    assert response.status_code == 200, response.text


async def test_the_contact_tab_shows_the_customer_and_its_forms_act_once(
    api: Api, portal: FakeBitrix24
) -> None:
    await installed(api, portal)
    customer = await api.customer(phone, points=300)
    contact = portal.contact(phone)

    response = await open_tab(api.client, portal, "CRM_CONTACT_DETAIL_TAB", contact)
    assert response.status_code == 200, response.text
    page = response.text
    assert text_of(page, "balance-available") == "300"
    assert text_of(page, "contact-phone") == phone
    policy = response.headers["content-security-policy"]
    assert f"frame-ancestors http://{portal.domain}" in policy
    assert "x-frame-options" not in response.headers
    assert "writeoff" not in page  # the contact's tab has no deal to write off on

    issued = await act(api.client, page, "issue-card", number="7001")
    assert issued.status_code == 200, issued.text
    assert "Карта выдана" in issued.text
    again = await act(api.client, page, "issue-card", number="7001")  # the same form again
    assert again.status_code == 200
    cards = (await api.get(f"/v1/customers/{customer}", key=api.admin_key)).json()["cards"]
    assert [card["number"] for card in cards] == ["7001"]

    blocked = await act(api.client, issued.text, "block-card", reason="Утеряна")
    assert blocked.status_code == 200, blocked.text
    assert "Карта заблокирована" in blocked.text
    assert 'class="card-status status-blocked"' in blocked.text

    english = await open_tab(api.client, portal, "CRM_CONTACT_DETAIL_TAB", contact, "en")
    assert "Customer&#39;s points" in english.text or "Customer's points" in english.text
    assert "blocked" in english.text


async def test_a_form_without_its_csrf_token_changes_nothing(
    api: Api, portal: FakeBitrix24
) -> None:
    await installed(api, portal)
    customer = await api.customer(phone)
    page = (
        await open_tab(api.client, portal, "CRM_CONTACT_DETAIL_TAB", portal.contact(phone))
    ).text
    forged = await act(api.client, page, "issue-card", number="7002", csrf="forged")
    assert forged.status_code == 403
    foreign = await api.client.post(
        "/apps/bitrix24/tab/action",
        data={name: field(page, name, "issue-card") for name in ("session", "csrf", "form_key",
                                                                  "action")} | {"number": "7003"},
        headers={"Origin": "https://evil.example"},
    )  # fmt: skip
    assert foreign.status_code == 403
    no_session = await act(api.client, page, "issue-card", number="7004", session="made-up")
    assert no_session.status_code == 403
    cards = (await api.get(f"/v1/customers/{customer}", key=api.admin_key)).json()["cards"]
    assert cards == []


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        ("unknown_portal", 403),
        ("made_up_token", 403),
        ("expired_token", 403),
        ("forged_application_token", 403),
        ("other_domain", 403),
        ("uninstalled", 403),
        ("portal_down", 502),
        ("no_options", 400),
    ],
)
async def test_a_placement_request_the_portal_did_not_send_is_refused_with_a_page(
    api: Api, portal: FakeBitrix24, failure: str, status: int
) -> None:
    await installed(api, portal)
    await api.customer(phone, points=300)
    contact = portal.contact(phone)
    access, _ = portal.issue_pair()
    query, form = portal.placement_request("CRM_CONTACT_DETAIL_TAB", contact, access)
    if failure == "unknown_portal":
        form["member_id"] = "0123456789abcdef"
    elif failure == "made_up_token":
        form["AUTH_ID"] = "made-up"
    elif failure == "expired_token":
        portal.expire(access)
    elif failure == "forged_application_token":
        form["APPLICATION_TOKEN"] = "forged"
    elif failure == "other_domain":
        query = query.replace(portal.domain.replace(":", "%3A"), "other.bitrix24.ru")
    elif failure == "uninstalled":
        gone = await api.client.post(
            "/apps/bitrix24/events", content=portal.uninstall_form(), headers=form_type
        )
        assert gone.status_code == 200
    elif failure == "portal_down":
        portal.failures = 1
    else:
        del form["PLACEMENT_OPTIONS"]
    response = await api.client.post(f"/apps/bitrix24/tab?{query}", data=form)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in response.text
    assert "balance-available" not in response.text
    assert 'name="session"' not in response.text


async def test_points_written_off_in_the_deal_tab_are_spent_by_the_channel(
    api: Api, portal: FakeBitrix24, server: str
) -> None:
    response = await api.client.put(
        f"/v1/programs/{api.program_id}/rules", json=rules, headers=api.headers(api.admin_key)
    )
    assert response.status_code == 200, response.text
    async with httpx.AsyncClient(base_url=server) as client:
        installed_portal = await install(client, await install_link(api), portal)
        assert installed_portal.status_code == 200, installed_portal.text
        portal.handler = f"{server}/hooks/bitrix24/{installed_portal.json()['connection_id']}"
        customer = await api.customer(phone, points=500)
        deal = portal.deal(portal.contact(phone), "10000.00")
        tab = await open_tab(client, portal, "CRM_DEAL_DETAIL_TAB", deal)
        assert tab.status_code == 200, tab.text
        assert text_of(tab.text, "balance-available") == "500"
        asked = await act(client, tab.text, "writeoff", points="100")
        assert asked.status_code == 200, asked.text
        assert "Запрошено списание 100 баллов" in asked.text
    assert portal.deals[deal]["UF_CRM_LOYALTY_WRITEOFF"] == "100"
    for _ in range(4):
        await portal.settled()
        await api.runtime.channels.drain()
    assert (await api.balance(customer))["available"] == 400
    assert portal.deals[deal]["OPPORTUNITY"] == "9900.00"


async def test_the_tab_without_redis_says_so_on_a_page(
    api: Api, portal: FakeBitrix24, monkeypatch: pytest.MonkeyPatch
) -> None:
    await installed(api, portal)
    await api.customer(phone)
    monkeypatch.setattr(api.runtime, "redis", create_client("redis://127.0.0.1:1/0"))
    response = await open_tab(api.client, portal, "CRM_CONTACT_DETAIL_TAB", portal.contact(phone))
    assert response.status_code == 503, response.text
    assert "Сервис временно недоступен" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "Traceback" not in response.text
