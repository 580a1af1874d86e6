"""Cards and accounts blocked and unblocked: a card's journal keeps every change with its reason
and the key that made it; unblocking is refused for a card that is not blocked or not there,
and a card given back works at the till again; a hold or accrual naming a card needs the
customer's live one; a blocked account keeps its reason, refuses to earn or spend, and after
unblocking does both again."""

from typing import Any

from structlog.testing import capture_logs

from tests.api.test_pos import customer_at_till, till
from tests.conftest import Api, make_program
from tests.invariants import assert_ledger_clean

card = "2000-0001"


async def journal(api: Api, number: str = card) -> Any:
    response = await api.get(f"/v1/cards/{number}")
    assert response.status_code == 200, response.text
    return response.json()


async def identify_by_card(api: Api) -> Any:
    return await till(api, "/identify", {"identifier": {"type": "card", "value": card}})


async def test_the_journal_keeps_every_change_of_a_card_with_its_reason(api: Api) -> None:
    await customer_at_till(api)
    assert (await identify_by_card(api)).status_code == 200  # the control: it works first

    blocked = await api.post(f"/v1/cards/{card}/block", {"reason": "lost"})

    assert blocked.status_code == 200, blocked.text
    assert blocked.json() == await journal(api)
    after_block = await journal(api)
    assert (after_block["status"], after_block["reason"]) == ("blocked", "lost")
    assert [(e["status"], e["reason"]) for e in after_block["events"]] == [
        ("active", "issued"),
        ("blocked", "lost"),
    ]
    assert {event["key_id"] for event in after_block["events"]} != {None}
    assert (await identify_by_card(api)).json()["code"] == "card_blocked"

    unblocked = await api.post(f"/v1/cards/{card}/unblock", {"reason": "found in the car"})

    assert unblocked.status_code == 200, unblocked.text
    after_unblock = await journal(api)
    assert (after_unblock["status"], after_unblock["reason"]) == ("active", "found in the car")
    assert [(e["status"], e["reason"]) for e in after_unblock["events"]] == [
        ("active", "issued"),
        ("blocked", "lost"),
        ("active", "found in the car"),
    ]
    assert (await identify_by_card(api)).status_code == 200


async def test_unblocking_is_refused_when_there_is_nothing_to_unblock(api: Api) -> None:
    await customer_at_till(api)
    before = await journal(api)

    active = await api.post(f"/v1/cards/{card}/unblock", {"reason": "why not"})
    missing = await api.post("/v1/cards/9999-9999/unblock", {"reason": "why not"})
    assert (await api.post(f"/v1/cards/{card}/block", {"reason": "lost"})).status_code == 200
    twice = await api.post(f"/v1/cards/{card}/block", {"reason": "lost again"})
    _, _, stranger = await make_program(api.runtime, "Another program")
    foreign = await api.post(f"/v1/cards/{card}/unblock", {"reason": "mine now"}, key=stranger)

    assert (active.status_code, active.json()["code"]) == (409, "card_not_blocked")
    assert (missing.status_code, missing.json()["code"]) == (404, "card_not_found")
    assert (twice.status_code, twice.json()["code"]) == (409, "card_blocked")
    assert (foreign.status_code, foreign.json()["code"]) == (404, "card_not_found")
    # Only the one real block was written; the refusals left no trace in the journal.
    events = (await journal(api))["events"]
    assert events[:-1] == before["events"]
    assert [(e["status"], e["reason"]) for e in events] == [
        ("active", "issued"),
        ("blocked", "lost"),
    ]


async def test_a_blocked_account_keeps_its_reason_and_is_whole_again_after_unblocking(
    api: Api,
) -> None:
    customer = await api.customer(points=100)
    assert (await api.reserve(customer, 10)).status_code == 201  # the control: it spends first

    path = f"/v1/customers/{customer}"
    blocked = await api.post(f"{path}/block", {"reason": "fraud check"}, key=api.admin_key)

    assert blocked.status_code == 200, blocked.text
    assert (blocked.json()["blocked"], blocked.json()["blocked_reason"]) == (True, "fraud check")
    shown = (await api.get(path)).json()
    assert (shown["blocked"], shown["blocked_reason"]) == (True, "fraud check")
    spend = await api.reserve(customer, 10)
    assert (spend.status_code, spend.json()["code"]) == (409, "account_blocked")
    earn = await api.post(
        f"/v1/customers/{customer}/accruals", {"points": 5, "document": {"id": "while-blocked"}}
    )
    assert (earn.status_code, earn.json()["code"]) == (409, "account_blocked")
    assert (await api.balance(customer))["available"] == 90

    with capture_logs() as logs:
        unblocked = await api.post(f"{path}/unblock", {"reason": "cleared"}, key=api.admin_key)

    assert unblocked.status_code == 200, unblocked.text
    # The account keeps only its state; why it was unblocked, and by whom, is in the log.
    [changed] = [line for line in logs if line["event"] == "account_block_changed"]
    assert (changed["customer_id"], changed["blocked"], changed["reason"]) == (
        customer,
        False,
        "cleared",
    )
    assert changed["key_id"] is not None
    assert (unblocked.json()["blocked"], unblocked.json()["blocked_reason"]) == (False, None)
    assert (await api.reserve(customer, 10)).status_code == 201
    assert (await api.balance(customer))["available"] == 80
    await assert_ledger_clean(api.runtime)


async def test_a_hold_or_accrual_naming_a_card_needs_the_customers_live_card(api: Api) -> None:
    customer = await customer_at_till(api)  # with card 2000-0001
    other = await api.customer(phone="+79160000002")
    other_card = await api.post(f"/v1/customers/{other}/cards", {"number": "2000-0002"})
    assert other_card.status_code == 201, other_card.text

    assert (await api.reserve(customer, 10, card_number=card)).status_code == 201
    assert (await api.accrue(customer, 10, card_number=card))["points"] == 10
    for path, body in (
        (f"/v1/customers/{customer}/holds", {"points": 10, "document": {"id": "c-1"}}),
        (f"/v1/customers/{customer}/accruals", {"points": 10, "document": {"id": "c-2"}}),
    ):
        stranger = await api.post(path, body | {"card_number": "2000-0002"})
        assert stranger.json()["code"] == "card_not_found", stranger.text
        unknown = await api.post(path, body | {"card_number": "2000-9999"})
        assert unknown.json()["code"] == "card_not_found", unknown.text
    blocked = await api.post(f"/v1/cards/{card}/block", {"reason": "lost"})
    assert blocked.status_code == 200, blocked.text
    body = {"points": 10, "document": {"id": "c-3"}, "card_number": card}
    refused = await api.post(f"/v1/customers/{customer}/holds", body)
    assert refused.json()["code"] == "card_blocked", refused.text
    assert (await api.balance(customer))["reserved"] == 10  # only the first hold
    await assert_ledger_clean(api.runtime)
