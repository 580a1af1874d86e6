"""The PassKit web service played by a device (decision 0029, spec §2): it registers with the
pass's token, learns what changed since its tag after a balance change through the API (and
nothing when nothing changed), fetches the pass (304 with If-Modified-Since), logs, and
unregisters; a wrong token, pass type or serial is 401, a tag not ours 400."""

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.api.test_apple_wallet import card_holder, crm_key, fetch_pass, set_up
from tests.api.test_auth_and_tenancy import assert_problem
from tests.conftest import Api
from tests.fakes.wallet import Chain, make_chain, open_package, pass_type

device = "device-library-0001"
push_token = "a1" * 32


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain()


class Device:
    """A device holding one pass: what it read from pass.json, and how it calls us."""

    def __init__(self, api: Api, document: dict[str, Any]) -> None:
        self.api = api
        self.base = urlsplit(document["webServiceURL"]).path + "/v1"
        self.serial = document["serialNumber"]
        self.token = document["authenticationToken"]

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"ApplePass {token or self.token}"}

    def registration(self, pass_type_id: str = pass_type, serial: str | None = None) -> str:
        return f"{self.base}/devices/{device}/registrations/{pass_type_id}/{serial or self.serial}"

    async def register(self, **kw: Any) -> Any:
        headers = kw.pop("headers", self.auth())
        return await self.api.client.post(
            self.registration(**kw), json={"pushToken": push_token}, headers=headers
        )

    async def unregister(self) -> Any:
        return await self.api.client.delete(self.registration(), headers=self.auth())

    async def updated_since(self, tag: str | None) -> Any:
        params = {} if tag is None else {"passesUpdatedSince": tag}
        return await self.api.client.get(
            f"{self.base}/devices/{device}/registrations/{pass_type}", params=params
        )

    async def latest(self, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        path = f"{self.base}/passes/{kw.get('pass_type_id', pass_type)}/{self.serial}"
        return await self.api.client.get(path, headers=headers or self.auth())


async def holding_a_pass(api: Api, chain: Chain) -> tuple[Device, str]:
    await set_up(api, chain)
    customer = await card_holder(api)
    response = await fetch_pass(api, await crm_key(api))
    assert response.status_code == 200, response.text
    return Device(api, open_package(response.content).document), customer


async def test_a_device_follows_its_pass_from_registration_to_unregistration(
    api: Api, chain: Chain
) -> None:
    phone, customer = await holding_a_pass(api, chain)
    assert (await phone.register()).status_code == 201
    assert (await phone.register()).status_code == 200  # registered already

    everything = await phone.updated_since(None)
    assert everything.status_code == 200, everything.text
    assert everything.json()["serialNumbers"] == [phone.serial]
    tag = everything.json()["lastUpdated"]
    assert (await phone.updated_since(tag)).status_code == 204

    await api.accrue(customer, 250)
    changed = await phone.updated_since(tag)
    assert changed.status_code == 200, changed.text
    assert changed.json()["serialNumbers"] == [phone.serial]
    newer = changed.json()["lastUpdated"]
    assert int(newer) > int(tag)
    # Asked again with the new tag: nothing new, and the tag stays.
    assert (await phone.updated_since(newer)).status_code == 204
    assert (await phone.updated_since(None)).json()["lastUpdated"] == newer

    fetched = await phone.latest()
    assert fetched.status_code == 200, fetched.text
    assert fetched.headers["content-type"] == "application/vnd.apple.pkpass"
    opened = open_package(fetched.content)
    assert opened.fields["balance"] == 1750
    assert opened.document["serialNumber"] == phone.serial
    assert opened.document["authenticationToken"] == phone.token
    modified = fetched.headers["last-modified"]
    unchanged = await phone.latest(headers=phone.auth() | {"If-Modified-Since": modified})
    assert unchanged.status_code == 304
    assert unchanged.content == b""

    logged = await api.client.post(f"{phone.base}/log", json={"logs": ["a device's trouble"]})
    assert logged.status_code == 200

    assert (await phone.unregister()).status_code == 200
    assert (await phone.updated_since(None)).status_code == 204


async def test_a_card_blocked_moves_the_tag_and_shows_on_the_pass(api: Api, chain: Chain) -> None:
    phone, _ = await holding_a_pass(api, chain)
    assert (await phone.register()).status_code == 201
    tag = (await phone.updated_since(None)).json()["lastUpdated"]
    blocked = await api.post("/v1/cards/2000-0001/block", {"reason": "lost"})
    assert blocked.status_code == 200, blocked.text
    changed = await phone.updated_since(tag)
    assert changed.status_code == 200, changed.text
    assert open_package((await phone.latest()).content).fields["status"] == "blocked"


async def test_wrong_tokens_types_and_serials_are_unauthorized(api: Api, chain: Chain) -> None:
    phone, _ = await holding_a_pass(api, chain)
    wrong = {"Authorization": "ApplePass " + "x" * 32}
    unknown = "00000000-0000-4000-8000-000000000000"
    for response in (
        await phone.register(headers=wrong),
        await phone.register(headers={}),
        await phone.register(headers={"Authorization": f"Bearer {phone.token}"}),
        await phone.register(pass_type_id="pass.com.other.card"),
        await phone.register(serial=unknown),
        await phone.register(serial="not-a-serial"),
        await phone.latest(headers=wrong),
        await phone.latest(pass_type_id="pass.com.other.card"),
        await api.client.delete(phone.registration(), headers=wrong),
    ):
        assert_problem(response, 401, "unauthorized")
    assert (await phone.updated_since(None)).status_code == 204  # nothing was registered


async def test_a_tag_not_ours_and_a_device_id_too_long_are_refused(api: Api, chain: Chain) -> None:
    phone, _ = await holding_a_pass(api, chain)
    refused = await phone.updated_since("yesterday")
    assert_problem(refused, 400, "validation_error")
    assert refused.json()["field"] == "passesUpdatedSince"
    too_long = await api.client.get(f"{phone.base}/devices/{'d' * 129}/registrations/{pass_type}")
    assert_problem(too_long, 400, "validation_error")
    assert too_long.json()["field"] == "deviceLibraryIdentifier"


async def test_an_unchanged_pass_keeps_its_tag_when_other_cards_change(
    api: Api, chain: Chain
) -> None:
    phone, _ = await holding_a_pass(api, chain)
    assert (await phone.register()).status_code == 201
    tag = (await phone.updated_since(None)).json()["lastUpdated"]
    other = await api.customer(phone="+79160000002", points=100)
    await api.accrue(other, 10)
    assert (await phone.updated_since(tag)).status_code == 204
