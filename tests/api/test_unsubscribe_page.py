"""The page behind the unsubscribe link in a marketing message's text: opening it withdraws
nothing (mail scanners open every link), its one button withdraws the consent the link names,
and a link we did not sign gets a 404 page that withdraws nothing."""

from typing import Any
from uuid import UUID

from processing.core.triggers import Channel
from tests.api.test_consent_and_erasure import consent, consents
from tests.conftest import Api


def in_force(page: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    return {entry["channel"]: (entry["granted"], entry["source"]) for entry in page["in_force"]}


def page_path(api: Api, customer: str, channel: Channel) -> str:
    url = api.runtime.unsubscribes.unsubscribe_page_url(UUID(customer), channel)
    return "/unsubscribe/" + url.rsplit("/", 1)[1]


async def test_opening_the_link_asks_and_the_button_withdraws_the_consent(api: Api) -> None:
    customer = await api.customer("+79127000001")
    assert (await consent(api, customer, "email", True)).status_code == 201
    assert (await consent(api, customer, "sms", True)).status_code == 201
    path = page_path(api, customer, Channel.email)

    opened = await api.client.get(path)
    scanned_again = await api.client.get(path)

    assert (opened.status_code, scanned_again.status_code) == (200, 200)
    assert opened.headers["content-type"].startswith("text/html")
    assert opened.headers["referrer-policy"] == "same-origin"
    assert "Больше не получать письма" in opened.text
    assert 'method="post"' in opened.text
    assert in_force(await consents(api, customer))["email"] == (True, "till")

    confirmed = await api.client.post(path)
    again = await api.client.post(path)

    assert (confirmed.status_code, again.status_code) == (200, 200)
    assert "вы отписались" in confirmed.text
    assert in_force(await consents(api, customer)) == {
        "email": (False, "unsubscribe"),
        "sms": (True, "till"),
    }
    page = await consents(api, customer)
    assert [entry["source"] for entry in page["items"]].count("unsubscribe") == 1
    english = await api.client.get(path, params={"lang": "en"})
    assert "Stop receiving the program&#39;s offers by e-mail?" in english.text


async def test_a_link_we_did_not_sign_gets_a_404_page_and_withdraws_nothing(api: Api) -> None:
    customer = await api.customer("+79127000002")
    assert (await consent(api, customer, "email", True)).status_code == 201
    path = page_path(api, customer, Channel.email)

    for forged in (path[:-3] + "AAA", "/unsubscribe/nonsense", "/unsubscribe/" + "x" * 500):
        shown = await api.client.get(forged)
        pressed = await api.client.post(forged)
        assert (shown.status_code, pressed.status_code) == (404, 404), forged
        assert "Ссылка недействительна" in pressed.text
        assert 'method="post"' not in shown.text

    assert in_force(await consents(api, customer))["email"] == (True, "till")
