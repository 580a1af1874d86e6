"""A campaign's message (decision 0024) through the worker, the message relay and real
providers (the aiosmtpd server and the HTTP SMS gateway of the trigger messages' tests): each
member accrued to gets one Russian e-mail and one SMS when it consented, and a suppressed row
with its reason when it did not; a blocked member gets neither points nor a message; a
campaign without points messages every member and accrues nothing; the figures count what
became of the messages; a second run makes nothing twice; a cancel suppresses the messages not
yet sent and makes no more."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from processing.adapters.postgres.store import PostgresStore
from processing.runtime import Runtime
from tests.api.test_campaigns import everyone, scheduled, shown, worker
from tests.api.test_segments import saved
from tests.conftest import Api
from tests.fakes.smtp import SmtpServer
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.integration import test_trigger_messages as triggered
from tests.integration.test_trigger_messages import drain, enrolled, messages
from tests.invariants import assert_ledger_clean

# The trigger messages' real providers (aiosmtpd, the HTTP SMS gateway) and settings.
gateway, mail, settings, put_json = (
    triggered.gateway,
    triggered.mail,
    triggered.settings,
    triggered.put_json,
)
pytestmark = pytest.mark.usefixtures("put_json")

templates = [
    {
        "channel": "email",
        "subject": "{{ name }}, {{ points }} баллов к весне",
        "body": "Здравствуйте, {{ name }}! Дарим {{ points }} баллов. Баланс: {{ balance }}.",
    },
    {"channel": "sms", "body": "{{ program }}: дарим {{ points }} баллов, баланс {{ balance }}"},
]


async def quiet(api: Api, hours: tuple[int, int] = (0, 0)) -> None:
    """The program's messaging settings in UTC: quiet from ``hours[0]`` to ``hours[1]`` (local
    minutes), the daily cap 3."""
    body = {"time_zone": "UTC", "quiet_start_minute": hours[0], "quiet_end_minute": hours[1]}
    put = await api.put_json(f"/v1/programs/{api.program_id}/message-settings", body)  # type: ignore[attr-defined]
    assert put.status_code == 200, put.text


def quiet_now() -> tuple[int, int]:
    """Quiet hours from an hour ago to an hour ahead, whatever the time of day."""
    now = datetime.now(UTC)
    minute = now.hour * 60 + now.minute
    return (minute - 60) % 1440, (minute + 60) % 1440


def states(items: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    return {item["channel"]: (item["state"], item["reason"]) for item in items}


async def test_each_member_accrued_to_gets_one_russian_email_and_sms_with_consent(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    await quiet(api)
    maria = await enrolled(api, consent=True)
    silent = await enrolled(api, consent=False, phone="+79161234568")
    blocked = await enrolled(api, consent=True, phone="+79161234569")
    block = await api.post(f"/v1/customers/{blocked}/block", {"reason": "fraud"}, key=api.admin_key)
    assert block.status_code == 200, block.text
    campaign = await scheduled(api, (await saved(api, everyone))["id"], templates=templates)
    assert [t["channel"] for t in campaign["templates"]] == ["email", "sms"]

    await worker(api).run_due()
    await drain(runtime)

    assert len(mail.received) == 1
    assert mail.recipients == ["maria@example.ru"]
    email = mail.received[0]
    assert email["Subject"] == "Мария, 50 баллов к весне"
    assert "Здравствуйте, Мария! Дарим 50 баллов. Баланс: 50." in email.get_content()
    assert email["List-Unsubscribe"].startswith("<https://bonus.example/v1/unsubscribe/")
    assert [json.loads(sms.body) for sms in gateway.received] == [
        {"to": "+79161234567", "text": "Test program: дарим 50 баллов, баланс 50"}
    ]
    assert states(await messages(api, maria)) == {"email": ("sent", None), "sms": ("sent", None)}
    assert states(await messages(api, silent)) == {
        "email": ("suppressed", "no_consent"),
        "sms": ("suppressed", "no_consent"),
    }
    assert await messages(api, blocked) == []  # skipped by the ledger: no points, no message
    done = await shown(api, campaign["id"])
    assert (done["accrued"], done["skipped"]) == (2, {"account_blocked": 1})
    assert done["messages"] == {
        "queued": 0,
        "sent": 2,
        "failed": 0,
        "suppressed": {"no_consent": 2},
    }

    await worker(api).run_due()  # finished: nothing due
    await drain(runtime)
    assert (len(mail.received), len(gateway.received)) == (1, 1)
    await assert_ledger_clean(api.runtime)


async def test_a_campaign_without_points_messages_every_member_and_accrues_nothing(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    await quiet(api)
    maria = await enrolled(api, consent=True)
    body = {"name": "Весна", "segment_id": (await saved(api, everyone))["id"], "reason": "news"}
    created = await api.post(
        f"/v1/programs/{api.program_id}/campaigns",
        body | {"templates": [{"channel": "sms", "body": "Новая коллекция, {{ name }}!"}]},
        key=api.admin_key,
    )
    assert created.status_code == 201, created.text
    assert created.json()["points"] is None

    await worker(api).run_due()
    await drain(runtime)

    done = await shown(api, created.json()["id"])
    assert (done["state"], done["members"], done["messaged"], done["accrued"]) == (
        "finished",
        1,
        1,
        0,
    )
    assert done["messages"]["sent"] == 1
    assert len(gateway.received) == 1
    assert not mail.received
    balance = await api.get(f"/v1/customers/{maria}/balance")
    assert balance.json()["available"] == 0
    await assert_ledger_clean(api.runtime)


async def test_a_cancel_suppresses_the_messages_not_yet_sent_and_makes_no_more(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    await quiet(api, quiet_now())  # messages made now wait for the quiet hours to end
    members = {
        await enrolled(api, consent=True),
        await enrolled(api, consent=True, phone="+79161234568"),
    }
    campaign = await scheduled(api, (await saved(api, everyone))["id"], templates=templates)
    running = worker(api, batch_members=1)
    real = running.ledger.accrue
    accrued: list[str] = []  # in the order the worker takes them (by id, not by enrolment)

    async def cancel_before_the_second(*args: Any) -> Any:
        accrued.append(str(args[1]))
        if len(accrued) == 2:  # the first member's messages are made (queued), then the cancel
            await drain(runtime)
            cancel = await api.post(f"/v1/campaigns/{campaign['id']}/cancel", {}, key=api.admin_key)
            assert cancel.status_code == 200, cancel.text
        return await real(*args)

    monkeypatch.setattr(running.ledger, "accrue", cancel_before_the_second)
    await running.run_due()
    await drain(runtime)

    first, second = accrued
    assert set(accrued) == members
    made = {item["channel"]: item for item in await messages(api, first)}
    assert states(list(made.values())) == {
        "email": ("suppressed", "campaign_cancelled"),
        "sms": ("suppressed", "campaign_cancelled"),
    }
    # The second member was accrued in the batch under way, but its message is not made.
    assert await messages(api, second) == []
    assert (len(mail.received), len(gateway.received)) == (0, 0)
    done = await shown(api, campaign["id"])
    assert done["state"] == "cancelled"
    assert done["messages"]["suppressed"] == {"campaign_cancelled": 2}
    await assert_ledger_clean(api.runtime)


async def test_a_batch_of_a_campaigns_events_reads_its_templates_once(
    api: Api, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay reads the triggers an event answers once per batch, not once per event."""
    await quiet(api)
    members = [await enrolled(api, consent=True, phone=f"+7916123450{n}") for n in range(3)]
    await scheduled(api, (await saved(api, everyone))["id"], templates=templates)
    await worker(api).run_due()
    reads = 0
    real = PostgresStore.campaign_templates

    async def counted(self: PostgresStore, campaign_id: Any) -> Any:
        nonlocal reads
        reads += 1
        return await real(self, campaign_id)

    monkeypatch.setattr(PostgresStore, "campaign_templates", counted)
    await drain(runtime)

    assert reads == 1
    assert [len(await messages(api, member)) for member in members] == [2, 2, 2]
