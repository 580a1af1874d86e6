"""The promoter's SMS (decision 0034, seed 001): ``promoter_rewarded`` is a trigger like any
outbox event (decision 0023); turned on, it tells the promoter, not the customer it brought,
once per reward, without marketing consent (transactional by default)."""

import json

import pytest

from processing.runtime import Runtime
from tests.api.test_loyalty_rules_and_checkout import put_rules, receipt_line
from tests.api.test_promoters import now_rules
from tests.api.test_purchases import purchase
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


async def test_the_promoter_is_told_of_its_reward_once(
    api: Api,
    runtime: Runtime,
    gateway: WebhookReceiver,  # noqa: F811
) -> None:
    program = api.program_id
    assert (await put_rules(api, now_rules)).status_code == 200
    settings_put = await api.put_json(  # type: ignore[attr-defined]
        f"/v1/programs/{program}/message-settings",
        {"time_zone": "UTC", "quiet_start_minute": 0, "quiet_end_minute": 0},
    )
    assert settings_put.status_code == 200, settings_put.text
    body = {
        "enabled": True,
        "templates": [{"channel": "sms", "body": "{{ name }}, вам начислено {{ points }} баллов"}],
    }
    put = await api.put_json(f"/v1/programs/{program}/triggers/promoter_rewarded", body)  # type: ignore[attr-defined]
    assert put.status_code == 200, put.text
    anna = await enrolled(api, consent=False, phone="+79160000001")
    made = await api.post(
        f"/v1/programs/{program}/promoters",
        {"customer_id": anna, "name": "Мария", "code": "MARIA", "reward_points": 300},
        key=api.admin_key,
    )
    assert made.status_code == 201, made.text
    brought = await api.post("/v1/customers", {"phone": "+79160000002", "promoter_code": "MARIA"})
    assert brought.status_code == 201, brought.text
    customer = brought.json()["id"]

    assert (await purchase(api, customer, [receipt_line("oil", 1000)], "R-1")).status_code == 201
    assert (await purchase(api, customer, [receipt_line("oil", 1000)], "R-2")).status_code == 201
    await drain(runtime)

    sent = [json.loads(sms.body) for sms in gateway.received]
    assert [(sms["to"], sms["text"]) for sms in sent] == [
        ("+79160000001", "Мария, вам начислено 300 баллов")
    ]
