"""The Bitrix24 application path over real HTTP both ways: an operator's one-time install link
installs our application on a fake portal (the tabs and the deal events bound with application
auth, the token pair sealed at rest), a deal event is applied with the portal's OAuth pair and
an expired pair is refreshed at the fake OAuth server exactly once however many workers need it
at once; ONAPPUNINSTALL with the stored application token stops the connection. Every refusal
(a spent or unknown link, a pair the portal does not accept, a portal that does not answer, a
portal of another program, a forged uninstall) leaves nothing written and the link unspent."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import msgspec
import pytest

from processing.runtime import Runtime
from processing.service.partners.bitrix24.partner import Bitrix24Partner
from processing.service.ports import PartnerUnavailable
from processing.settings import Settings
from tests.conftest import Api, make_program
from tests.fakes.bitrix24 import FakeBitrix24
from tests.invariants import assert_ledger_clean

phone = "+79120000001"
rules = {"point_value_minor": 100, "earning": {"base_bp": 1000}}
form_type = {"Content-Type": "application/x-www-form-urlencoded"}


@contextlib.asynccontextmanager
async def fake_portal() -> AsyncIterator[FakeBitrix24]:
    fake = FakeBitrix24()
    runner = await fake.start()
    fake.domain = fake.base.removeprefix("http://")  # the portal's REST API is where it listens
    try:
        yield fake
    finally:
        await fake.settled()
        await runner.cleanup()


def with_oauth(settings: Settings, portal: FakeBitrix24) -> Settings:
    """The server's settings with our application at the fake portal's OAuth server."""
    return msgspec.structs.replace(
        settings,
        bitrix24_client_id=portal.client_id,
        bitrix24_client_secret=portal.client_secret,
        bitrix24_oauth_url=portal.base,
    )


@pytest.fixture
async def portal() -> AsyncIterator[FakeBitrix24]:
    async with fake_portal() as fake:
        yield fake


@pytest.fixture
def settings(settings: Settings, portal: FakeBitrix24) -> Settings:
    return with_oauth(settings, portal)


async def install_link(api: Api, program_id: str | None = None) -> str:
    response = await api.post(
        f"/v1/programs/{program_id or api.program_id}/bitrix24/installs", key=api.admin_key
    )
    assert response.status_code == 201, response.text
    url: str = response.json()["install_url"]
    return url


async def install(
    client: httpx.AsyncClient, link: str, portal: FakeBitrix24, pair: tuple[str, str] | None = None
) -> httpx.Response:
    access, refresh = pair or portal.issue_pair()
    path = httpx.URL(link).path
    return await client.post(
        f"{path}?{portal.install_query}",
        content=portal.install_form(access, refresh),
        headers=form_type,
    )


async def rows(runtime: Runtime, query: str) -> list[dict[str, Any]]:
    async with runtime.pool.acquire() as db:
        return [dict(row) for row in await db.fetch(query)]


async def nothing_written(runtime: Runtime) -> None:
    assert await rows(runtime, "select id from channel_connections") == []
    assert await rows(runtime, "select member_id from bitrix24_portals") == []
    assert (
        await rows(
            runtime, "select token_sha256 from bitrix24_install_grants where used_at is not null"
        )
        == []
    )


async def test_an_install_link_installs_the_portal_once_with_its_pair_sealed(
    api: Api, portal: FakeBitrix24
) -> None:
    headers = api.headers(api.admin_key, "link-1")
    path = f"/v1/programs/{api.program_id}/bitrix24/installs"
    first = await api.client.post(path, headers=headers)
    assert first.status_code == 201, first.text
    link = first.json()["install_url"]
    assert "/apps/bitrix24/install/b24i_" in link
    replay = await api.client.post(path, headers=headers)
    assert replay.status_code == 201
    assert replay.json()["install_url"] is None

    access, refresh = portal.issue_pair()
    response = await install(api.client, link, portal, (access, refresh))
    assert response.status_code == 200, response.text
    installed = response.json()
    assert installed["member_id"] == portal.member_id
    assert installed["offline_events"] is True
    assert installed["program_id"] == api.program_id
    assert installed["reinstalled"] is False
    connection_id = installed["connection_id"]

    assert sorted(bound["PLACEMENT"] for bound in portal.placements) == [
        "CRM_CONTACT_DETAIL_TAB", "CRM_DEAL_DETAIL_TAB",
    ]  # fmt: skip
    assert {bound["HANDLER"] for bound in portal.placements} == {
        "http://testserver/apps/bitrix24/tab"
    }
    assert sorted((b["event"], b["event_type"], b["handler"]) for b in portal.bindings) == [
        ("ONAPPUNINSTALL", "online", "http://testserver/apps/bitrix24/events"),
        ("ONCRMDEALADD", "online", f"http://testserver/hooks/bitrix24/{connection_id}"),
        ("ONCRMDEALUPDATE", "offline", ""),
        ("ONCRMDEALUPDATE", "online", f"http://testserver/hooks/bitrix24/{connection_id}"),
    ]
    [stored] = await rows(
        api.runtime, "select secrets::text, secrets_sealed, account from channel_connections"
    )
    assert stored["secrets"] == "{}"
    assert stored["account"] == portal.domain
    for secret in (access, refresh, portal.application_token):
        assert secret not in stored["secrets_sealed"]
    async with api.runtime.database.reader() as store:
        state = await store.portal(UUID(connection_id))
    assert state is not None
    assert state.connection.secrets["refresh_token"] == refresh

    again = await install(api.client, link, portal)
    assert again.status_code == 403
    assert again.json()["code"] == "install_link_invalid"

    # A reinstall through a new link of the same program takes the same connection again.
    response = await install(api.client, await install_link(api), portal)
    assert response.status_code == 200, response.text
    assert response.json()["connection_id"] == connection_id
    assert response.json()["reinstalled"] is True


@pytest.mark.parametrize(
    "failure", ["unknown_link", "bad_auth", "portal_down", "no_member_id", "expired_auth"]
)
async def test_a_refused_install_writes_nothing_and_leaves_the_link_unspent(
    api: Api, portal: FakeBitrix24, failure: str
) -> None:
    link = await install_link(api)
    access, refresh = portal.issue_pair()
    body, path = portal.install_form(access, refresh), httpx.URL(link).path
    expected = {"unknown_link": (403, "install_link_invalid"), "bad_auth": (401, "unauthorized"),
                "expired_auth": (401, "unauthorized"), "portal_down": (502, "partner_unavailable"),
                "no_member_id": (400, "validation_error")}[failure]  # fmt: skip
    if failure == "unknown_link":
        path = path[:-4] + "abcd"
    elif failure == "bad_auth":
        body = portal.install_form("not-a-token", refresh)
    elif failure == "expired_auth":
        portal.expire(access)
    elif failure == "portal_down":
        portal.failures = 1
    else:
        body = body.replace(f"member_id={portal.member_id}".encode(), b"member_id=")
    response = await api.client.post(
        f"{path}?{portal.install_query}", content=body, headers=form_type
    )
    assert (response.status_code, response.json()["code"]) == expected, response.text
    await nothing_written(api.runtime)

    retried = await install(api.client, link, portal)  # the link still works
    assert retried.status_code == 200, retried.text


async def test_a_portal_of_another_program_is_refused(api: Api, portal: FakeBitrix24) -> None:
    assert (await install(api.client, await install_link(api), portal)).status_code == 200
    other, _, _ = await make_program(api.runtime, "Other program")
    response = await install(api.client, await install_link(api, other), portal)
    assert (response.status_code, response.json()["code"]) == (409, "portal_connected_elsewhere")
    assert len(await rows(api.runtime, "select id from channel_connections")) == 1


async def test_a_portal_without_offline_events_is_installed_with_online_ones(
    api: Api, portal: FakeBitrix24
) -> None:
    portal.offline_events = False
    response = await install(api.client, await install_link(api), portal)
    assert response.status_code == 200, response.text
    assert response.json()["offline_events"] is False
    assert all(binding["event_type"] == "online" for binding in portal.bindings)


async def test_uninstall_with_the_stored_token_stops_the_connection(
    api: Api, portal: FakeBitrix24
) -> None:
    installed = (await install(api.client, await install_link(api), portal)).json()
    forged = await api.client.post(
        "/apps/bitrix24/events", content=portal.uninstall_form("forged"), headers=form_type
    )
    assert (forged.status_code, forged.json()["code"]) == (401, "unauthorized")
    stranger = FakeBitrix24(member_id="0123456789abcdef")
    unknown = await api.client.post(
        "/apps/bitrix24/events", content=stranger.uninstall_form(), headers=form_type
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert await rows(api.runtime, "select active from channel_connections") == [{"active": True}]

    response = await api.client.post(
        "/apps/bitrix24/events", content=portal.uninstall_form(), headers=form_type
    )
    assert response.status_code == 200
    assert response.json() == {"received": True}
    assert await rows(api.runtime, "select active from channel_connections") == [{"active": False}]
    hook = await api.client.post(
        f"/hooks/bitrix24/{installed['connection_id']}", content=b"event=ONCRMDEALUPDATE",
        headers=form_type,
    )  # fmt: skip
    assert hook.status_code == 404


async def test_a_deal_event_is_applied_with_a_refreshed_pair(
    api: Api, portal: FakeBitrix24, server: str
) -> None:
    response = await api.client.put(
        f"/v1/programs/{api.program_id}/rules", json=rules, headers=api.headers(api.admin_key)
    )
    assert response.status_code == 200, response.text
    async with httpx.AsyncClient(base_url=server) as client:
        access, refresh = portal.issue_pair()
        installed = await install(client, await install_link(api), portal, (access, refresh))
    assert installed.status_code == 200, installed.text
    portal.handler = f"{server}/hooks/bitrix24/{installed.json()['connection_id']}"
    customer = await api.customer(phone)
    deal = portal.deal(portal.contact(phone), "10000.00")
    portal.expire(access)  # an hour later

    await portal.change(deal, STAGE_ID="WON")
    for _ in range(4):
        await api.runtime.channels.drain()
        await portal.settled()

    assert (await api.balance(customer))["available"] == 1000
    assert portal.refreshes == 1
    assert portal.spent_refresh_tokens == [refresh]
    assert [name for name, _ in portal.calls if name == "crm.contact.update"]
    await assert_ledger_clean(api.runtime)


async def test_concurrent_refreshes_spend_the_refresh_token_once(
    api: Api, portal: FakeBitrix24, settings: Settings
) -> None:
    access, refresh = portal.issue_pair()
    installed = await install(api.client, await install_link(api), portal, (access, refresh))
    connection_id = UUID(installed.json()["connection_id"])
    portal.expire(access)
    portal.refresh_delay_seconds = 0.3  # long enough for every caller to find it expired
    second = await Runtime.open(settings)  # another process's worker
    try:
        callers = [
            runtime.partner(Bitrix24Partner).tokens
            for runtime in (api.runtime, second)
            for _ in range(4)
        ]
        answers = await asyncio.gather(
            *(tokens.call(connection_id, "profile", {}) for tokens in callers)
        )
    finally:
        await second.close()
    assert [status for status, _ in answers] == [200] * 8
    assert portal.refreshes == 1
    assert portal.spent_refresh_tokens == [refresh]
    [state] = await rows(
        api.runtime, "select token_generation, refreshing_until from bitrix24_portals"
    )
    assert state == {"token_generation": 1, "refreshing_until": None}


async def test_a_refresh_the_oauth_server_refuses_changes_nothing(
    api: Api, portal: FakeBitrix24
) -> None:
    access, refresh = portal.issue_pair()
    installed = await install(api.client, await install_link(api), portal, (access, refresh))
    connection_id = UUID(installed.json()["connection_id"])
    portal.expire(access)
    portal.refresh_tokens.discard(refresh)  # revoked at the OAuth server
    tokens = api.runtime.partner(Bitrix24Partner).tokens
    with pytest.raises(PartnerUnavailable):
        await tokens.call(connection_id, "profile", {})
    [state] = await rows(
        api.runtime, "select token_generation, refreshing_until from bitrix24_portals"
    )
    assert state == {"token_generation": 0, "refreshing_until": None}


async def test_a_deal_update_whose_event_was_lost_comes_from_the_offline_queue(
    api: Api, portal: FakeBitrix24
) -> None:
    response = await api.client.put(
        f"/v1/programs/{api.program_id}/rules", json=rules, headers=api.headers(api.admin_key)
    )
    assert response.status_code == 200, response.text
    assert (await install(api.client, await install_link(api), portal)).status_code == 200
    customer = await api.customer(phone)
    deal = portal.deal(portal.contact(phone), "10000.00")
    await portal.change(deal, STAGE_ID="WON")  # no handler reachable: the online event is lost

    await api.runtime.channels.sweep()
    assert portal.offline_queue == []  # read and cleared
    keys = await rows(api.runtime, "select event_key from channel_inbox order by id")
    assert keys[0]["event_key"].startswith(f"OFFLINE:{deal}:")
    await api.runtime.channels.drain()
    assert (await api.balance(customer))["available"] == 1000


async def test_an_install_naming_another_portals_member_id_is_refused(
    api: Api, portal: FakeBitrix24
) -> None:
    assert (await install(api.client, await install_link(api), portal)).status_code == 200
    async with fake_portal() as impostor:
        impostor.member_id = portal.member_id  # a portal of its own, claiming the first's id
        response = await install(api.client, await install_link(api), impostor)
    assert (response.status_code, response.json()["code"]) == (409, "portal_connected_elsewhere")
    connections = await rows(api.runtime, "select account from channel_connections")
    assert connections == [{"account": portal.domain}]
    [row] = await rows(api.runtime, "select connection_id, token_generation from bitrix24_portals")
    assert row["token_generation"] == 0
    spent = "select token_sha256 from bitrix24_install_grants where used_at is not null"
    assert len(await rows(api.runtime, spent)) == 1
