"""The console's campaigns pages at the HTTP level: a campaign scheduled from the form is listed
with its segment and start, and the same form sent again schedules nothing more; a form the
schema or the use case refuses is shown again as typed with the field it names, and nothing is
written; a scheduled campaign is cancelled from its page, and a finished or cancelled one has
no cancel button; another program's campaign is not found and cannot be cancelled."""

import re
from typing import Any

from processing.service.messaging.campaigns import Campaigns
from processing.service.messaging.outgoing import MessagePolicy, MessageRelay
from tests.api.test_console import _csrf, form_key_for, signed_in
from tests.api.test_segments import saved
from tests.conftest import Api, make_program

everyone = {"all": [{"fact": "available", "min": 0}]}
origin = {"Origin": "http://testserver"}


def typed(page: str, field: str) -> str:
    found = re.search(rf'name="{field}" value="([^"]*)"', page)
    assert found is not None, (field, page)
    return found.group(1)


async def campaigns_page(api: Api) -> str:
    response = await api.client.get("/console/campaigns")
    assert response.status_code == 200, response.text
    return response.text


async def post_form(api: Api, page: str, **fields: str) -> Any:
    form = {
        "csrf": _csrf.findall(page)[0],
        "form_key": form_key_for(page, "/console/campaigns"),
        "program": api.program_id,
        "name": "Осень",
        "points": "50",
        "reason": "Акция",
        "starts_at": "2099-01-01T09:30",
    } | fields
    return await api.client.post("/console/campaigns", data=form, headers=origin)


async def listed(api: Api, program_id: str | None = None) -> list[dict[str, Any]]:
    path = f"/v1/programs/{program_id or api.program_id}/campaigns"
    response = await api.get(path, key=api.admin_key)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def scheduled(api: Api, segment_id: str, program_id: str | None = None) -> dict[str, Any]:
    body = {"name": "Зима", "segment_id": segment_id, "points": 20, "reason": "promo"}
    response = await api.post(
        f"/v1/programs/{program_id or api.program_id}/campaigns",
        body | {"starts_at": "2099-01-01T00:00:00Z"},
        key=api.admin_key,
    )
    assert response.status_code == 201, response.text
    campaign: dict[str, Any] = response.json()
    return campaign


async def test_a_campaign_is_scheduled_from_the_form_and_listed(api: Api) -> None:
    segment = await saved(api, everyone, "Все клиенты")
    await signed_in(api)
    empty = await campaigns_page(api)
    assert "Кампаний ещё нет" in empty
    assert f'<option value="{segment["id"]}">Все клиенты</option>' in empty

    form = {"segment": segment["id"], "expiry_days": "30"}
    response = await post_form(api, empty, **form)
    assert response.status_code == 303, response.text
    assert response.headers["location"].endswith("&done=campaign_created")
    shown = (await api.client.get(response.headers["location"])).text
    assert "Кампания запланирована" in shown
    assert shown.count('<tr class="campaign"') == 1
    assert 'class="campaign-state">запланирована<' in shown
    assert ">Все клиенты</a>" in shown
    assert "2099-01-01 09:30 UTC" in shown
    [campaign] = await listed(api)
    assert (campaign["name"], campaign["points"], campaign["reason"]) == ("Осень", 50, "Акция")
    assert (campaign["expiry_days"], campaign["expires_at"]) == (30, None)
    assert campaign["starts_at"] == "2099-01-01T09:30:00Z"
    assert campaign["state"] == "scheduled"

    # The same form sent again (its one-time key with it) is the first request's replay.
    again = await post_form(api, empty, **form)
    assert again.status_code == 303
    assert len(await listed(api)) == 1

    # A blank start is now; a date is the points' expiry at its midnight (UTC).
    page = await campaigns_page(api)
    soon = await post_form(
        api, page, segment=segment["id"], starts_at="", expires_on="2099-03-31", name="Сейчас"
    )
    assert soon.status_code == 303, soon.text
    newest = (await listed(api))[0]
    assert newest["name"] == "Сейчас"
    assert newest["expires_at"] == "2099-03-31T00:00:00Z"
    assert newest["starts_at"] <= newest["created_at"]


async def test_a_refused_form_is_shown_as_typed_and_nothing_is_written(api: Api) -> None:
    segment = await saved(api, everyone, "Все")
    other_program, _, _ = await make_program(api.runtime, "Other")
    theirs = await saved_in(api, other_program)
    await signed_in(api)
    page = await campaigns_page(api)
    # The schema's refusals (422) and the use case's (400, and 404 for another's segment).
    cases = [
        ({"points": "0"}, "points", 422),
        ({"points": "пятьдесят"}, "points", 422),
        ({"expiry_days": "30", "expires_on": "2099-03-31"}, "expiry_days", 400),
        ({"expires_on": "2001-01-01"}, "expires_at", 400),
        ({"starts_at": "завтра"}, "starts_at", 422),
        ({"reason": ""}, "reason", 422),
        ({"segment": theirs}, "segment_id", 404),
    ]
    for fields, field, status in cases:
        asked = {"segment": segment["id"], "name": "Как набрано"} | fields
        refused = await post_form(api, page, **asked)
        assert refused.status_code == status, (fields, refused.text)
        assert f'<code id="error-field">{field}</code>' in refused.text, fields
        assert typed(refused.text, "name") == "Как набрано"
        assert typed(refused.text, "points") == fields.get("points", "50")
        page = refused.text  # a refused form's page carries a new one-time key
    assert 'role="alert">Такого сегмента в программе нет.' in page
    assert await listed(api) == []
    assert await listed(api, other_program) == []


async def saved_in(api: Api, program_id: str) -> str:
    body = {"name": "theirs", "filter": everyone}
    response = await api.post(f"/v1/programs/{program_id}/segments", body, key=api.admin_key)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_a_scheduled_campaign_is_cancelled_from_its_page(api: Api) -> None:
    segment = await saved(api, everyone)
    campaign = await scheduled(api, segment["id"])
    await signed_in(api)
    page = await api.client.get(f"/console/campaigns/{campaign['id']}")
    assert page.status_code == 200, page.text
    assert 'id="campaign-state">запланирована<' in page.text
    assert 'id="campaign-members">—<' in page.text
    action = f"/console/campaigns/{campaign['id']}/cancel"
    form = {"csrf": _csrf.findall(page.text)[0], "form_key": form_key_for(page.text, action)}

    forged = await api.client.post(action, data={"form_key": form["form_key"]}, headers=origin)
    assert forged.status_code == 403
    unconfirmed = await api.client.post(action, data=form, headers=origin)
    assert unconfirmed.status_code == 422, unconfirmed.text
    assert "Отметьте «Да, отменить»" in unconfirmed.text
    found = await api.get(f"/v1/campaigns/{campaign['id']}", key=api.admin_key)
    assert found.json()["state"] == "scheduled"  # nothing changed
    form |= {"confirm": "yes"}
    cancelled = await api.client.post(action, data=form, headers=origin)
    assert cancelled.status_code == 303, cancelled.text
    shown = await api.client.get(cancelled.headers["location"])
    assert "Кампания отменена" in shown.text
    assert 'id="campaign-state">отменена<' in shown.text
    assert "cancel-campaign" not in shown.text
    found = await api.get(f"/v1/campaigns/{campaign['id']}", key=api.admin_key)
    assert found.json()["state"] == "cancelled"

    # A stale page's form, with a key of its own, is refused with the state's code.
    again = await api.client.post(action, data=form | {"form_key": "k" * 24}, headers=origin)
    assert again.status_code == 409
    assert "campaign_not_cancellable" in again.text


async def test_a_finished_campaign_shows_its_progress_and_no_button(api: Api) -> None:
    for i in range(3):
        await api.customer(f"+7912000{i:04d}")
    segment = await saved(api, everyone)
    body = {"name": "Сразу", "segment_id": segment["id"], "points": 5, "reason": "promo"}
    created = await api.post(f"/v1/programs/{api.program_id}/campaigns", body, key=api.admin_key)
    assert created.status_code == 201, created.text
    runtime = api.runtime
    assert (
        await Campaigns(runtime.database, runtime.runner, runtime.campaigns.ledger).run_due() == 1
    )
    await signed_in(api)
    page = await api.client.get(f"/console/campaigns/{created.json()['id']}")
    assert 'id="campaign-state">завершена<' in page.text
    assert 'id="campaign-members">3<' in page.text
    assert 'id="campaign-accrued">3<' in page.text
    assert 'id="campaign-pending">0<' in page.text
    assert "cancel-campaign" not in page.text
    listing = await campaigns_page(api)
    assert 'class="campaign-state">завершена<' in listing


async def test_another_programs_campaign_is_not_found(api: Api) -> None:
    other_program, _, _ = await make_program(api.runtime, "Other")
    theirs = await scheduled(api, await saved_in(api, other_program), other_program)
    await signed_in(api)
    page = await api.client.get(f"/console/campaigns/{theirs['id']}")
    assert page.status_code == 404
    assert "Зима" not in page.text
    listing = await campaigns_page(api)
    assert theirs["id"] not in listing
    own = await api.client.get("/console/segments")  # any page of ours: its CSRF token
    form = {"csrf": _csrf.findall(own.text)[0], "form_key": "k" * 24}
    refused = await api.client.post(
        f"/console/campaigns/{theirs['id']}/cancel", data=form, headers=origin
    )
    assert refused.status_code == 404
    [still] = await listed(api, other_program)
    assert still["state"] == "scheduled"


async def test_a_message_campaign_shows_its_messages_by_state_and_reason(api: Api) -> None:
    """A campaign without points: its members are messaged, and its page counts what became
    of the messages (here no one consented: suppressed, no_consent)."""
    for i in range(2):
        await api.customer(f"+7912000{i:04d}")
    segment = await saved(api, everyone)
    body = {
        "name": "Новости",
        "segment_id": segment["id"],
        "reason": "news",
        "templates": [{"channel": "sms", "body": "{{ name }}, у нас новинки"}],
    }
    created = await api.post(f"/v1/programs/{api.program_id}/campaigns", body, key=api.admin_key)
    assert created.status_code == 201, created.text
    runtime = api.runtime
    assert (
        await Campaigns(runtime.database, runtime.runner, runtime.campaigns.ledger).run_due() == 1
    )
    relay = MessageRelay(
        runtime.database, runtime.message_channels, runtime.triggers, MessagePolicy()
    )
    assert await relay.run_once() == 2
    await signed_in(api)
    page = await api.client.get(f"/console/campaigns/{created.json()['id']}")
    assert 'id="campaign-points">без баллов<' in page.text
    assert 'id="campaign-channels">sms (ru)<' in page.text
    assert 'id="campaign-messaged">2<' in page.text
    assert 'id="campaign-messages-sent">0<' in page.text
    assert "нет согласия на рассылку" in page.text
    assert '<td class="number">2</td>' in page.text.split('class="suppressed"')[1]
