"""A till's or web shop's key creates at most its program's points per call and per UTC day
(manual accruals and refunds that give points back): more is refused with
``points_limit_exceeded`` naming the limit, writes and counts nothing, is counted in a metric,
and the per-day count holds when many requests of one key race in Postgres."""

import asyncio
from collections import Counter
from typing import Any
from uuid import UUID

from prometheus_client import REGISTRY

from processing.service.admin import create_key
from tests.conftest import Api, make_program
from tests.integration.test_races_postgres_alone import Unlocked
from tests.invariants import assert_ledger_clean


class Small:
    """A program whose keys may create 60 points a call and 100 a day."""

    def __init__(self, api: Api, pos: str, program_id: str) -> None:
        self.api, self.pos, self.program_id = api, pos, program_id

    async def customer(self, phone: str) -> str:
        enrolled = await self.api.post("/v1/customers", {"phone": phone}, key=self.pos)
        assert enrolled.status_code == 201, enrolled.text
        customer_id: str = enrolled.json()["id"]
        return customer_id

    async def accrue(self, customer: str, points: int, key: str | None = None) -> Any:
        return await self.api.post(
            f"/v1/customers/{customer}/accruals",
            {"points": points, "document": {"id": f"doc-{next(self.api.keys)}"}},
            key=key or self.pos,
        )


async def small_program(api: Api) -> Small:
    program_id, _, pos = await make_program(
        api.runtime, "Small", key_points_per_call_max=60, key_points_per_day_max=100
    )
    return Small(api, pos, program_id)


def refusals(limit: str) -> float:
    value = REGISTRY.get_sample_value("bonus_points_limit_refusals_total", {"limit": limit})
    return value or 0.0


def assert_refused(response: Any, limit: str) -> None:
    assert response.status_code == 409, response.text
    problem = response.json()
    assert (problem["code"], problem["field"]) == ("points_limit_exceeded", "points")
    assert limit in problem["detail"]


async def test_a_till_key_may_create_the_programs_points_per_call_and_no_more(api: Api) -> None:
    customer = await api.customer()
    before = refusals("key_points_per_call_max")

    refused = await api.post(
        f"/v1/customers/{customer}/accruals", {"points": 100_001, "document": {"id": "big"}}
    )

    assert_refused(refused, "key_points_per_call_max")
    assert refusals("key_points_per_call_max") == before + 1
    assert (await api.balance(customer))["available"] == 0
    assert (await api.get(f"/v1/customers/{customer}/operations")).json()["items"] == []
    # The control: the limit itself passes, and an operator's key is not bounded by it.
    await api.accrue(customer, 100_000)
    operator = await api.post(
        f"/v1/customers/{customer}/accruals",
        {"points": 1_000_000_000 - 100_000, "document": {"id": "operator"}},
        key=api.admin_key,
    )
    assert operator.status_code == 201, operator.text
    await assert_ledger_clean(api.runtime)


async def test_a_till_key_creates_at_most_the_day_limit_and_another_key_is_not_charged(
    api: Api,
) -> None:
    small = await small_program(api)
    customer = await small.customer("+79120000011")
    before = refusals("key_points_per_day_max")

    assert (await small.accrue(customer, 60)).status_code == 201
    assert (await small.accrue(customer, 40)).status_code == 201
    assert_refused(await small.accrue(customer, 1), "key_points_per_day_max")

    assert refusals("key_points_per_day_max") == before + 1
    async with api.runtime.database.transaction() as store:
        other = await create_key(store, UUID(small.program_id), "till 2", ["pos"], None)
    assert other.key is not None
    assert (await small.accrue(customer, 60, key=other.key)).status_code == 201
    balance = await api.get(f"/v1/customers/{customer}/balance", key=small.pos)
    assert balance.json()["available"] == 160
    counted = await api.runtime.pool.fetch("select points from key_points_daily order by points")
    assert [row["points"] for row in counted] == [60, 100]
    await assert_ledger_clean(api.runtime)


async def test_refunds_that_give_points_back_count_and_claw_backs_do_not(api: Api) -> None:
    small = await small_program(api)
    customer = await small.customer("+79120000012")
    accrual = await small.accrue(customer, 60)
    hold = await api.post(
        f"/v1/customers/{customer}/holds", {"points": 50, "document": {"id": "h"}}, key=small.pos
    )
    commit = await api.post(f"/v1/holds/{hold.json()['id']}/commit", {}, key=small.pos)
    assert commit.status_code == 200, commit.text

    given_back = await api.post(
        f"/v1/operations/{commit.json()['id']}/refunds",
        {"points": 40, "document": {"id": "r1"}},
        key=small.pos,
    )
    assert given_back.status_code == 201, given_back.text
    over = await api.post(
        f"/v1/operations/{commit.json()['id']}/refunds",
        {"points": 10, "document": {"id": "r2"}},
        key=small.pos,
    )
    assert_refused(over, "key_points_per_day_max")
    clawed = await api.post(
        f"/v1/operations/{accrual.json()['id']}/refunds",
        {"points": 20, "document": {"id": "r3"}},
        key=small.pos,
    )
    assert clawed.status_code == 201, clawed.text

    counted = await api.runtime.pool.fetchval("select points from key_points_daily")
    assert counted == 100
    balance = await api.get(f"/v1/customers/{customer}/balance", key=small.pos)
    assert balance.json()["available"] == 60 - 50 + 40 - 20
    await assert_ledger_clean(api.runtime)


async def test_concurrent_accruals_of_one_key_never_pass_the_day_limit(api: Api) -> None:
    """Thirty accruals of 10 points by one key on thirty customers at once, with the account
    locks off, so they meet in Postgres: exactly ten get through."""
    small = await small_program(api)
    customers = [await small.customer(f"+7912000{n:04d}") for n in range(30)]
    locks = Unlocked()
    api.runtime.runner.locks = locks

    answers = await asyncio.gather(*(small.accrue(customer, 10) for customer in customers))

    assert locks.most_at_once > 1, "the requests never overlapped: the race did not run"
    codes = Counter(
        "ok" if answer.status_code == 201 else answer.json()["code"] for answer in answers
    )
    assert codes == {"ok": 10, "points_limit_exceeded": 20}
    assert await api.runtime.pool.fetchval("select points from key_points_daily") == 100
    issued = await api.runtime.pool.fetchval(
        "select coalesce(sum(posted), 0) from accounts a join programs p on p.id = a.program_id"
        " where p.name = 'Small' and a.kind = 'customer'"
    )
    assert issued == 100
    await assert_ledger_clean(api.runtime)


async def test_a_program_states_its_key_limits_and_refuses_a_call_limit_above_the_day(
    api: Api,
) -> None:
    created = await api.post(
        "/v1/programs", {"name": "Chain", "currency": "RUB"}, key=api.admin_key
    )
    assert created.status_code == 201, created.text
    program = created.json()
    assert (program["key_points_per_call_max"], program["key_points_per_day_max"]) == (
        100_000,
        1_000_000,
    )
    refused = await api.post(
        "/v1/programs",
        {
            "name": "Odd",
            "currency": "RUB",
            "key_points_per_call_max": 10,
            "key_points_per_day_max": 5,
        },
        key=api.admin_key,
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == "key_points_per_call_max"
