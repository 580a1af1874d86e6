"""A promo code's caps under concurrency, against real Postgres: 200 customers buying at once
with one code capped at 150 give exactly 150 purchases with the code and 50 refusals that wrote
nothing. The cap is a CHECK on the counter the purchase's own statement adds to, so it holds
with the Redis turns switched off too (each customer's turn is their own anyway)."""

import asyncio
from collections import Counter
from uuid import UUID

import asyncpg
import pytest

from processing.adapters.redis.locks import NoAccountLocks
from tests.api.test_loyalty_rules_and_checkout import put_rules, receipt_line
from tests.api.test_promo_codes import campaign, codes, rules, usage
from tests.api.test_purchases import purchase
from tests.conftest import Api
from tests.invariants import assert_ledger_clean


@pytest.fixture(autouse=True, params=["redis-locks", "postgres-alone"])
def locking(request: pytest.FixtureRequest, api: Api) -> None:
    if request.param == "postgres-alone":
        api.runtime.runner.locks = NoAccountLocks()


@pytest.mark.parametrize("capped", ["campaign", "code"])
async def test_200_concurrent_purchases_with_a_code_capped_at_150(api: Api, capped: str) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    made = await campaign(api, uses_max=150 if capped == "campaign" else None)
    cap = {"uses_max": 150} if capped == "code" else {}
    assert (await codes(api, made["id"], kind="shared", code="RUSH", **cap)).status_code == 201
    customers = [await api.customer(f"+7912{n:07d}") for n in range(200)]
    lines = [receipt_line("oil", 1000)]

    answers = await asyncio.gather(
        *(
            purchase(api, customer, lines, f"R-{n}", promo_codes=["rush"])
            for n, customer in enumerate(customers)
        )
    )

    outcomes = Counter(
        "ok" if answer.status_code == 201 else answer.json()["code"] for answer in answers
    )
    assert outcomes == {"ok": 150, "promo_code_refused": 50}
    assert all("cap_reached" in a.json()["detail"] for a in answers if a.status_code != 201)
    used = await usage(api, made["id"])
    assert (used["used"], used["points_given"], used["customers"]) == (150, 150 * 100, 150)
    connection = await asyncpg.connect(api.runtime.settings.database_url)
    try:
        counts = await connection.fetchrow(
            "select (select count(*) from purchases) as purchases,"
            " (select count(*) from promo_uses where campaign_id = $1) as uses,"
            " (select sum(used) from promo_codes where campaign_id = $1) as code_used",
            UUID(made["id"]),
        )
    finally:
        await connection.close()
    assert counts is not None
    assert (counts["purchases"], counts["uses"], counts["code_used"]) == (150, 150, 150)
    for answer, customer in zip(answers, customers, strict=True):
        earned = 50 + 100 if answer.status_code == 201 else 0
        assert (await api.balance(customer))["available"] == earned
    await assert_ledger_clean(api.runtime)


async def test_one_customers_concurrent_purchases_use_a_code_as_often_as_their_cap(
    api: Api,
) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    made = await campaign(api, uses_per_customer_max=2)
    assert (await codes(api, made["id"], kind="shared", code="TWICE")).status_code == 201
    customer = await api.customer()
    lines = [receipt_line("oil", 1000)]

    answers = await asyncio.gather(
        *(purchase(api, customer, lines, f"R-{n}", promo_codes=["twice"]) for n in range(20))
    )

    outcomes = Counter(
        "ok" if answer.status_code == 201 else answer.json()["code"] for answer in answers
    )
    assert outcomes == {"ok": 2, "promo_code_refused": 18}
    assert all(
        "customer_cap_reached" in a.json()["detail"] for a in answers if a.status_code != 201
    )
    assert (await usage(api, made["id"]))["used"] == 2
    assert (await api.balance(customer))["available"] == 2 * (50 + 100)
    await assert_ledger_clean(api.runtime)


async def test_first_purchases_that_grant_referrals_race_for_a_code_on_the_locked_turn(
    api: Api,
) -> None:
    """A referred customer's first purchase takes the locked turn (one transaction with the
    referral grant): a use past the cap fails the apply inside it, the transaction is rolled
    back and run again, and the code is then refused with nothing written, referral included."""
    referral = {"referral": {"referrer": 300, "referred": 150}}
    assert (await put_rules(api, rules | {"bonuses": referral})).status_code == 200
    made = await campaign(api, uses_max=5)
    assert (await codes(api, made["id"], kind="shared", code="FIRST5")).status_code == 201
    friend = await api.customer("+79121000000")
    newcomers = []
    for n in range(10):
        enrolled = await api.post(
            "/v1/customers", {"phone": f"+7912200{n:04d}", "referred_by": friend}
        )
        assert enrolled.status_code == 201, enrolled.text
        newcomers.append(enrolled.json()["id"])
    lines = [receipt_line("oil", 1000)]

    answers = await asyncio.gather(
        *(
            purchase(api, newcomer, lines, f"R-{n}", promo_codes=["first5"])
            for n, newcomer in enumerate(newcomers)
        )
    )

    outcomes = Counter(
        "ok" if answer.status_code == 201 else answer.json()["code"] for answer in answers
    )
    assert outcomes == {"ok": 5, "promo_code_refused": 5}
    assert (await usage(api, made["id"]))["used"] == 5
    for answer, newcomer in zip(answers, newcomers, strict=True):
        bought = answer.status_code == 201
        assert (await api.balance(newcomer))["available"] == (50 + 100 + 150 if bought else 0)
    assert (await api.balance(friend))["available"] == 5 * 300
    await assert_ledger_clean(api.runtime)
