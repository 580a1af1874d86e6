"""The locked turn answers as load → decide → apply does.

Reserve, commit, cancel, accrue, adjust and refund run in two round trips under the account's
turn; after ``turn_attempts_max`` lost races the runner runs the same load, decision and apply
in one transaction under the account's row lock (the locked turn), which is otherwise seldom
taken. One journey of calls, refusals and replays runs on each path, and what a till and an
accountant see must not differ: the answers, the balance, the statement and a reconciling
ledger. Concurrent calls on the locked turn lose no point and apply a document once.
"""

import asyncio
from typing import Any

import pytest

from processing.service import mutations
from processing.service.mutations import MutationRunner
from tests.api.test_loyalty_rules_and_checkout import auto_service, put_rules, receipt_line
from tests.conftest import Api
from tests.invariants import assert_ledger_clean

# What a client reads in an answer; ids and times differ between two customers by nature.
_read = ("code", "type", "points", "available_after", "status", "committed_points")


def seen(response: Any) -> tuple[Any, ...]:
    body = response.json()
    return (response.status_code, *(body.get(field) for field in _read))


async def journey(api: Api, phone: str) -> list[Any]:
    """Every converted use case, a refusal of each kind the snapshot decides, and replays."""
    customer = await api.customer(phone=phone)
    on = f"/v1/customers/{customer}"
    answers: list[Any] = []

    async def call(path: str, body: Any, key: str | None = None, again: bool = False) -> Any:
        idempotency_key = f"{phone}-{len(answers)}"
        response = await api.post(path, body, key=key, idempotency_key=idempotency_key)
        answers.append(seen(response))
        if again:
            replayed = await api.post(path, body, key=key, idempotency_key=idempotency_key)
            assert replayed.content == response.content
        return response.json()

    accrual = await call(
        f"{on}/accruals", {"points": 100, "document": {"id": f"{phone}-a"}}, again=True
    )
    await call(f"{on}/accruals", {"points": 5, "document": {"id": f"{phone}-a"}})  # used document
    await call(f"{on}/adjustments", {"points": -10, "reason": "correction"}, key=api.admin_key)
    await call(f"{on}/holds", {"points": 1_000, "document": {"id": f"{phone}-r0"}})  # too many
    hold = await call(f"{on}/holds", {"points": 50, "document": {"id": f"{phone}-r1"}}, again=True)
    await call(f"{on}/holds", {"points": 5, "document": {"id": f"{phone}-r1"}})  # open hold
    commit = await call(f"/v1/holds/{hold['id']}/commit", {"points": 30}, again=True)
    await call(f"/v1/holds/{hold['id']}/cancel", None)  # already committed
    second = await call(f"{on}/holds", {"points": 20, "document": {"id": f"{phone}-r2"}})
    await call(f"/v1/holds/{second['id']}/cancel", None, again=True)
    # A reserve with its receipt, capped by the rules in force (they let points pay at most
    # half of a 100-rouble receipt: 50 points).
    basket = [receipt_line("oil", 100)]
    capped = {"points": 51, "lines": basket, "document": {"id": f"{phone}-r3"}}
    await call(f"{on}/holds", capped)
    priced = await call(f"{on}/holds", capped | {"points": 40}, again=True)
    await call(f"/v1/holds/{priced['id']}/cancel", None)
    # Purchases: a hold with its receipt committed as one, and one with no reservation.
    paid = await call(f"{on}/holds", capped | {"points": 30, "document": {"id": f"{phone}-r4"}})
    await call(f"/v1/holds/{paid['id']}/commit", {"lines": basket}, again=True)
    bought = {"lines": basket, "document": {"id": f"{phone}-p1"}}
    purchase = await call(f"{on}/purchases", bought, again=True)
    await call(f"{on}/purchases", bought)  # the receipt's document is used
    # Returns by line: the receipt's one line, then once more, which nothing is left to take.
    returned = f"/v1/operations/{purchase['operation']['id']}/refunds"
    line = {"lines": [{"line_id": "oil", "quantity": 1}]}
    await call(returned, line | {"document": {"id": f"{phone}-x1"}}, again=True)
    await call(returned, line | {"document": {"id": f"{phone}-x2"}})
    # A bonus event, granted once a month.
    await call(f"{on}/events", {"type": "review", "document": {"id": f"{phone}-e1"}}, again=True)
    await call(f"{on}/events", {"type": "review", "document": {"id": f"{phone}-e2"}})
    await call(
        f"/v1/operations/{commit['id']}/refunds",
        {"points": 10, "document": {"id": f"{phone}-f1"}},
        again=True,
    )
    await call(
        f"/v1/operations/{accrual['id']}/refunds",
        {"points": 500, "document": {"id": f"{phone}-f2"}},
    )  # more than the accrual

    answers.append(await api.balance(customer))
    statement = (await api.get(f"{on}/operations")).json()["items"]
    answers.append(sorted((item["type"], item["points"]) for item in statement))
    return answers


async def test_the_locked_path_answers_as_the_turn_does(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    review = {"bonuses": {"events": {"review": {"points": 50, "every": "month"}}}}
    assert (await put_rules(api, auto_service | review)).status_code == 200
    attempts = 0
    attempt = MutationRunner._attempt

    async def counted(self: MutationRunner, *args: Any, **kwargs: Any) -> Any:
        nonlocal attempts
        attempts += 1
        return await attempt(self, *args, **kwargs)

    monkeypatch.setattr(MutationRunner, "_attempt", counted)
    by_turn = await journey(api, "+79161000001")
    assert attempts > 0  # the control: the turn decided these

    attempts = 0
    monkeypatch.setattr(mutations, "turn_attempts_max", 0)  # every race lost: the locked path
    by_lock = await journey(api, "+79161000002")
    assert attempts == 0

    assert by_lock == by_turn
    statuses = [answer[0] for answer in by_turn[:-2]]
    assert statuses == [
        *(201, 409, 201, 409, 201, 409, 200, 409, 201, 200),  # points
        *(409, 201, 200, 201, 200, 201, 409, 201, 409),  # receipts and their returns
        *(201, 409),  # bonus events
        *(201, 409),  # refunds
    ]
    # Points earned on the receipts are pending (the rules' activation delay is 14 days).
    assert by_turn[-2]["available"] == 100 - 10 - 30 + 10 - 30 + 50
    await assert_ledger_clean(api.runtime)


async def test_the_locked_turn_serializes_an_account_and_applies_a_document_once(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mutations, "turn_attempts_max", 0)  # every write takes the locked turn
    first, second = (
        await api.customer(phone="+79161000003"),
        await api.customer(phone="+79161000004"),
    )

    def accrual(customer: str, document: str) -> Any:
        body = {"points": 7, "document": {"id": document}}
        return api.post(f"/v1/customers/{customer}/accruals", body)

    # One account, many writers at once: the row lock orders them and none is lost.
    answers = await asyncio.gather(*(accrual(first, f"serial-{n}") for n in range(12)))
    assert [answer.status_code for answer in answers] == [201] * 12
    assert (await api.balance(first))["available"] == 12 * 7

    # One document on two accounts at once, both decided before either applies: the loser
    # waits on the winner's unique document, rolls back, runs again, and sees it.
    both_decided = asyncio.Barrier(2)
    write = MutationRunner._write
    writes = 0

    async def after_both_decided(self: MutationRunner, *args: Any) -> Any:
        nonlocal writes
        writes += 1
        if writes <= 2:
            await both_decided.wait()
        return await write(self, *args)

    monkeypatch.setattr(MutationRunner, "_write", after_both_decided)
    answers = await asyncio.wait_for(
        asyncio.gather(accrual(first, "shared"), accrual(second, "shared")), timeout=30
    )
    assert writes == 3  # two plans, then the loser's refusal stored on its second run
    assert sorted(answer.status_code for answer in answers) == [201, 409]
    refused = next(answer.json() for answer in answers if answer.status_code == 409)
    assert refused["code"] == "duplicate_document"
    balances = [(await api.balance(customer))["available"] for customer in (first, second)]
    assert sum(balances) == 13 * 7
    await assert_ledger_clean(api.runtime)
