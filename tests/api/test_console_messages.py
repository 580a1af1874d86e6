"""The customer's messages in the console, at the HTTP level: the card links them; the page lists
what the relay made (channel, trigger, state, why, the recipient as stored, when made and sent)
newest first, a page at a time through the API's own use case; a cursor not of ours is refused
on the page, and another program's admin sees nothing of them."""

import re
from typing import Any
from uuid import UUID

from processing.core import limits
from processing.service.messaging.outgoing import MessagePolicy, MessageRelay
from tests.api.test_console import program_admin_key_of, signed_in
from tests.conftest import Api, make_program

_rows = re.compile(r'<tr class="customer-message" data-message="(\d+)">(.*?)</tr>', re.S)
_next = re.compile(r'class="next-page" href="([^"]+)"')
phone = "+79120000031"


async def put(api: Api, path: str, body: dict[str, Any]) -> None:
    answered = await api.client.put(path, json=body, headers=api.headers(api.admin_key))
    assert answered.status_code == 200, answered.text


async def told_of_an_accrual(api: Api) -> str:
    """A customer told of an accrual by SMS (sent) and by e-mail (no address: suppressed)."""
    program = api.program_id
    await put(api, f"/v1/programs/{program}/message-settings", {"time_zone": "UTC",
        "quiet_start_minute": 0, "quiet_end_minute": 0, "daily_cap": 3})  # fmt: skip
    templates = [
        {"channel": "sms", "body": "+{{ points }} баллов"},
        {"channel": "email", "subject": "Баллы", "body": "+{{ points }} баллов"},
    ]
    await put(api, f"/v1/programs/{program}/triggers/points_accrued",
        {"enabled": True, "kind": "transactional", "templates": templates})  # fmt: skip
    customer = await api.customer(phone)
    await api.accrue(customer, 600)
    async with api.runtime.database.transaction() as store:
        await store.fan_out(100)
    relay = MessageRelay(
        api.runtime.database, api.runtime.message_channels, api.runtime.triggers, MessagePolicy()
    )
    while await relay.run_once():
        pass
    return customer


def rows_of(text: str) -> list[tuple[int, str]]:
    return [(int(found), " ".join(re.sub(r"<[^>]+>", " ", row).split())) for found, row in
            _rows.findall(text)]  # fmt: skip


async def test_the_card_links_the_customers_messages_with_their_fate_and_recipient(
    api: Api,
) -> None:
    customer = await told_of_an_accrual(api)
    await signed_in(api)

    card = await api.client.get(f"/console/customers/{customer}")
    assert f'href="/console/customers/{customer}/messages"' in card.text
    listed = await api.client.get(f"/console/customers/{customer}/messages")

    assert listed.status_code == 200, listed.text
    assert "<script" not in listed.text
    assert listed.headers["cache-control"] == "no-store"
    shown = {text.split()[3]: text for _, text in rows_of(listed.text)}  # by channel
    assert set(shown) == {"SMS", "e-mail"}
    assert "начисление баллов" in shown["SMS"]
    assert "отправлено" in shown["SMS"]
    assert phone in shown["SMS"]
    assert "не отправлялось" in shown["e-mail"]
    assert "нет адреса" in shown["e-mail"]
    english = await api.client.get(f"/console/customers/{customer}/messages", params={"lang": "en"})
    assert "points accrued" in english.text
    assert "no address" in english.text


async def test_the_messages_page_a_page_at_a_time_newest_first(api: Api) -> None:
    customer = await told_of_an_accrual(api)
    # More messages than a console page holds, as the relay stores them.
    await api.runtime.pool.execute(
        """insert into messages (program_id, customer_id, channel, kind, trigger, event_key,
               template_version, locale, recipient, body, state, reason)
           select $1, $2, 'sms', 'marketing', 'points_accrued', 'test:' || n, 1, 'ru', $3,
                  'text', 'suppressed', 'no_consent'
           from generate_series(1, $4::int) n""",
        api.program_id_uuid,
        UUID(customer),
        phone,
        limits.console_list_page_size,
    )
    await signed_in(api)

    first = await api.client.get(f"/console/customers/{customer}/messages")
    ids = [found for found, _ in rows_of(first.text)]
    assert len(ids) == limits.console_list_page_size
    assert ids == sorted(ids, reverse=True)
    next_link = _next.findall(first.text)
    assert len(next_link) == 1
    second = await api.client.get(next_link[0].replace("&amp;", "&"))
    rest = [found for found, _ in rows_of(second.text)]
    assert len(rest) == 2  # the accrual's two, the oldest
    assert max(rest) < min(ids)
    assert not _next.findall(second.text)
    assert "Первая страница" in second.text

    refused = await api.client.get(
        f"/console/customers/{customer}/messages", params={"cursor": "nonsense"}
    )
    assert refused.status_code == 404
    assert 'role="alert"' in refused.text
    assert not rows_of(refused.text)


async def test_another_programs_admin_sees_none_of_the_messages(api: Api) -> None:
    customer = await told_of_an_accrual(api)
    other_program, _, _ = await make_program(api.runtime, "Other")
    theirs = await program_admin_key_of(api, UUID(other_program), "their admin")
    signed = await api.client.post("/console/sign-in", data={"key": theirs, "lang": "ru"})
    assert signed.status_code == 303

    listed = await api.client.get(f"/console/customers/{customer}/messages")

    assert listed.status_code == 404
    assert phone not in listed.text
    assert not rows_of(listed.text)
