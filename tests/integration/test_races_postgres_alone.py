"""Races on refunds, returns by line, purchases, bonuses and SMS sends with the account locks
switched off, so that concurrent requests meet in Postgres itself: the exact outcome still
holds (no double refund, no overdraft, one effect per duplicate) and the ledger reconciles.

With the locks on, the process's queue hands one account to one request at a time and these
races never reach the database; the ``Unlocked`` stand-in records how many requests were past
the lock step at once, and every test asserts they overlapped, so a green run proves the race
was run and not serialized somewhere on the way."""

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import pytest

from processing.core import limits
from processing.settings import Settings
from tests.api.test_bonuses import bonus_rules, enroll, event
from tests.api.test_loyalty_rules_and_checkout import put_rules, receipt_line
from tests.api.test_pos_sms import send
from tests.api.test_purchases import purchase
from tests.api.test_returns_by_line import now_rules, return_lines
from tests.conftest import Api, secrets_keys
from tests.fakes.webhook_receiver import WebhookReceiver, webhook_receiver
from tests.invariants import assert_ledger_clean

rub = 100
racers = 12


class Unlocked:
    """No account lock at all, and a count of how many requests were inside at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most_at_once = 0

    @asynccontextmanager
    async def around(self, account_id: UUID) -> AsyncIterator[None]:
        self.inside += 1
        self.most_at_once = max(self.most_at_once, self.inside)
        try:
            yield
        finally:
            self.inside -= 1


@pytest.fixture
async def gateway() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def settings(database_url: str, redis_server: str, gateway: WebhookReceiver) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_server,
        expiry_worker=False,
        db_pool_min=1,
        db_pool_max=10,
        sms_provider="http",
        sms_url=gateway.url,
        sms_token="gateway-token",
        secrets_keys=secrets_keys,
    )


@pytest.fixture(autouse=True)
def unlocked(api: Api) -> Iterator[Unlocked]:
    locks = Unlocked()
    api.runtime.runner.locks = locks
    yield locks
    assert locks.most_at_once > 1, "the requests never overlapped: the race did not run"


def outcomes(responses: list[Any], ok: int = 201) -> Counter[str]:
    return Counter(
        "ok" if response.status_code == ok else response.json()["code"] for response in responses
    )


async def spent(api: Api, customer: str, points: int) -> str:
    hold = await api.reserve(customer, points)
    committed = await api.post(f"/v1/holds/{hold.json()['id']}/commit", {})
    assert committed.status_code == 200, committed.text
    operation_id: str = committed.json()["id"]
    return operation_id


async def test_concurrent_refunds_of_one_redemption_never_pass_it(api: Api) -> None:
    customer = await api.customer(points=100)
    redemption = await spent(api, customer, 80)

    refunds = await asyncio.gather(*(
        api.post(f"/v1/operations/{redemption}/refunds",
                 {"points": 10, "document": {"id": f"return-{n}"}})
        for n in range(racers)
    ))  # fmt: skip

    assert outcomes(refunds) == {"ok": 8, "refund_exceeds_original": racers - 8}
    assert (await api.balance(customer))["available"] == 100
    original = (await api.get(f"/v1/operations/{redemption}")).json()
    assert (original["status"], original["refunded_points"]) == ("refunded", 80)
    await assert_ledger_clean(api.runtime)


async def test_concurrent_clawbacks_of_one_accrual_never_overdraw(api: Api) -> None:
    customer = await api.customer()
    accrual = await api.accrue(customer, 100)

    refunds = await asyncio.gather(*(
        api.post(f"/v1/operations/{accrual['id']}/refunds",
                 {"points": 30, "document": {"id": f"return-{n}"}})
        for n in range(racers)
    ))  # fmt: skip

    assert outcomes(refunds) == {"ok": 3, "refund_exceeds_original": racers - 3}
    assert (await api.balance(customer))["available"] == 10
    await assert_ledger_clean(api.runtime)


async def test_one_refund_sent_many_times_at_once_applies_once(api: Api) -> None:
    customer = await api.customer(points=100)
    redemption = await spent(api, customer, 50)
    path = f"/v1/operations/{redemption}/refunds"
    body = {"points": 20, "document": {"id": "return-1"}}

    same_key = await asyncio.gather(
        *(api.post(path, body, idempotency_key="till-retry") for _ in range(racers))
    )
    other_keys = await asyncio.gather(*(api.post(path, body) for _ in range(racers)))

    created = [response for response in same_key if response.status_code == 201]
    assert created, [response.text for response in same_key]
    assert {response.content for response in created} == {created[0].content}
    assert outcomes(same_key) - Counter(ok=len(created)) <= Counter(
        idempotency_request_in_progress=racers
    )
    assert outcomes(other_keys) == {"duplicate_document": racers}
    assert (await api.balance(customer))["available"] == 70
    await assert_ledger_clean(api.runtime)


async def test_concurrent_returns_of_one_line_never_pass_what_was_bought(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer()
    bought = await purchase(api, customer, [receipt_line("tyre", 1000) | {"quantity": 3}], "R-1")
    assert bought.json()["earned_points"] == 150, bought.text
    purchase_id = bought.json()["operation"]["id"]

    returns = await asyncio.gather(
        *(return_lines(api, purchase_id, [("tyre", 1)], f"RET-{n}") for n in range(racers))
    )

    assert outcomes(returns) == {"ok": 3, "refund_exceeds_original": racers - 3}
    clawed = sorted(r.json()["points_clawed_back"] for r in returns if r.status_code == 201)
    assert clawed == [50, 50, 50]
    assert (await api.balance(customer))["available"] == 0
    returned = await api.runtime.pool.fetchval("select sum(quantity) from purchase_returns")
    assert returned == 3
    await assert_ledger_clean(api.runtime)


async def test_concurrent_returns_and_a_points_refund_claw_back_only_what_was_earned(
    api: Api,
) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer(points=500)
    bought = await purchase(api, customer, [receipt_line("oil", 1000) | {"quantity": 4}], "R-1")
    assert bought.json()["earned_points"] == 200, bought.text
    purchase_id = bought.json()["operation"]["id"]

    answers = await asyncio.gather(
        *(return_lines(api, purchase_id, [("oil", 1)], f"RET-{n}") for n in range(racers)),
        api.post(
            f"/v1/operations/{purchase_id}/refunds", {"points": 120, "document": {"id": "RET-P"}}
        ),
    )

    clawed = sum(answer.json()["points_clawed_back"] for answer in answers if answer.is_success)
    assert clawed <= 200
    assert (await api.balance(customer))["available"] == 500 + 200 - clawed
    assert all(answer.status_code in (201, 409) for answer in answers)
    await assert_ledger_clean(api.runtime)


async def test_one_receipt_under_many_keys_at_once_earns_once(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer()

    answers = await asyncio.gather(
        *(purchase(api, customer, [receipt_line("oil", 1000)], "R-1") for _ in range(racers))
    )

    assert outcomes(answers) == {"ok": 1, "duplicate_document": racers - 1}
    assert (await api.balance(customer))["available"] == 50
    await assert_ledger_clean(api.runtime)


async def test_concurrent_purchases_count_every_ruble_and_cross_the_tier_once(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer()

    answers = await asyncio.gather(
        *(purchase(api, customer, [receipt_line("oil", 20_000)], f"R-{n}") for n in range(6))
    )

    assert outcomes(answers) == {"ok": 6}
    earned = sorted(answer.json()["earned_points"] for answer in answers)
    # The five that reach 100,000 rubles earn at silver (5 %), the one after them at gold (10 %),
    # whatever order they ran in: a race that read a stale spend would earn more or less.
    assert earned == [1000] * 5 + [2000]
    assert (await api.balance(customer))["available"] == sum(earned)
    standing = (await api.get(f"/v1/customers/{customer}/tier")).json()
    assert (standing["tier"], standing["spend_minor"]) == ("gold", 120_000 * rub)
    async with api.runtime.pool.acquire() as connection:
        told = await connection.fetch(
            "select payload from outbox"
            " where type = 'tier.changed' and payload->>'customer_id' = $1",
            customer,
        )
    assert [json.loads(row["payload"])["tier_after"] for row in told] == ["gold"]
    await assert_ledger_clean(api.runtime)


async def test_the_same_event_many_times_at_once_is_granted_once(api: Api) -> None:
    assert (await put_rules(api, bonus_rules)).status_code == 200
    customer = await enroll(api, "+79120000001")

    answers = await asyncio.gather(
        *(event(api, customer, "review", f"review-{n}") for n in range(racers))
    )

    assert outcomes(answers) == {"ok": 1, "bonus_already_granted": racers - 1}
    assert (await api.balance(customer))["available"] == 200 + 50
    await assert_ledger_clean(api.runtime)


async def test_concurrent_first_purchases_pay_the_referral_bonus_once(api: Api) -> None:
    rules = bonus_rules | {
        "activation_delay_days": 0,
        "bonuses": bonus_rules["bonuses"] | {"referral": {"referrer": 300, "referred": 150}},
    }
    assert (await put_rules(api, rules)).status_code == 200
    friend = await enroll(api, "+79120000001")
    newcomer = await enroll(api, "+79120000002", referred_by=friend)

    answers = await asyncio.gather(
        *(purchase(api, newcomer, [receipt_line("oil", 100)], f"R-{n}") for n in range(racers))
    )

    assert outcomes(answers) == {"ok": racers}
    assert (await api.balance(friend))["available"] == 200 + 300
    earned = sum(answer.json()["earned_points"] for answer in answers)
    assert (await api.balance(newcomer))["available"] == 200 + 150 + earned
    await assert_ledger_clean(api.runtime)


async def test_concurrent_sms_sends_keep_the_limit(api: Api, gateway: WebhookReceiver) -> None:
    customer = await api.customer(phone="+79161234567")
    tries = limits.sms_sends_per_customer_max * 4

    answers = await asyncio.gather(*(send(api, customer) for _ in range(tries)))

    allowed = limits.sms_sends_per_customer_max
    assert outcomes(answers) == {"ok": allowed, "sms_rate_limited": tries - allowed}
    assert len(gateway.received) == allowed
    checks = await api.runtime.pool.fetchval("select count(*) from sms_checks")
    assert checks == allowed


async def test_one_sms_send_many_times_at_once_sends_once(
    api: Api, gateway: WebhookReceiver
) -> None:
    customer = await api.customer(phone="+79161234567")

    answers = await asyncio.gather(
        *(send(api, customer, idempotency_key="till-7-sms") for _ in range(racers))
    )

    created = [answer for answer in answers if answer.status_code == 201]
    assert created, [answer.text for answer in answers]
    assert {answer.content for answer in created} == {created[0].content}
    assert outcomes(answers) - Counter(ok=len(created)) <= Counter(
        idempotency_request_in_progress=racers
    )
    assert len(gateway.received) == 1
