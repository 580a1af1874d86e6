"""Paid membership's events are triggers like any outbox event (decisions 0023 and 0035): a
program that turns on ``membership_started`` and ``membership_lapsing`` tells the customer once
each, without marketing consent (they are transactional by default), through the relay."""

import json

import pytest

from processing.runtime import Runtime
from processing.service.loyalty.membership import sweep_memberships
from tests.api.test_membership import backdate, buy, level_id
from tests.conftest import Api
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.integration.test_trigger_messages import (  # noqa: F401  (fixtures)
    drain,
    enrolled,
    gateway,
    mail,
    put_json,
    settings,
)

pytestmark = pytest.mark.usefixtures("put_json")


async def test_a_membership_started_and_lapsing_are_told_once_each(
    api: Api,
    runtime: Runtime,
    gateway: WebhookReceiver,  # noqa: F811
) -> None:
    program = api.program_id
    settings_put = await api.put_json(  # type: ignore[attr-defined]
        f"/v1/programs/{program}/message-settings",
        {"time_zone": "UTC", "quiet_start_minute": 0, "quiet_end_minute": 0},
    )
    assert settings_put.status_code == 200, settings_put.text
    for trigger, text in (
        ("membership_started", "{{ name }}, добро пожаловать в клуб"),
        ("membership_lapsing", "{{ name }}, клуб закончился: продлите его"),
    ):
        body = {"enabled": True, "templates": [{"channel": "sms", "body": text}]}
        put = await api.put_json(f"/v1/programs/{program}/triggers/{trigger}", body)  # type: ignore[attr-defined]
        assert put.status_code == 200, put.text
        assert put.json()["kind"] == "transactional"
    customer = await enrolled(api, consent=False)

    assert (await buy(api, customer, await level_id(api))).status_code == 201
    await backdate(api, customer, 32)  # the period has ended: in grace
    await sweep_memberships(runtime.database)
    await sweep_memberships(runtime.database)
    await drain(runtime, relays=2)

    assert [json.loads(sms.body)["text"] for sms in gateway.received] == [
        "Мария, добро пожаловать в клуб",
        "Мария, клуб закончился: продлите его",
    ]
