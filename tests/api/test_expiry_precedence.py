"""One rule says when points expire, for every way points are made (accruals, purchases, manual
credits, bonuses): the call's own ``expires_at``, else the expiry of the program's rules once it
has any (``never`` included), else the program's ``expiry_days``, else never."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.test_loyalty_rules_and_checkout import put_rules, receipt_line
from tests.conftest import Api, make_program


@pytest.fixture
async def expiring(api: Api) -> Api:
    """The harness, pointed at a program created with ``expiry_days`` 30."""
    api.program_id, api.admin_key, api.pos_key = await make_program(
        api.runtime, name="Thirty days", expiry_days=30
    )
    return api


async def lot_of(api: Api, operation: dict[str, Any]) -> tuple[datetime, datetime | None]:
    row = await api.runtime.pool.fetchrow(
        "select activates_at, expires_at from lots where operation_id = $1::uuid and points > 0",
        operation["id"],
    )
    assert row is not None, operation
    return row["activates_at"], row["expires_at"]


async def lifetime(api: Api, operation: dict[str, Any]) -> timedelta | None:
    activates_at, expires_at = await lot_of(api, operation)
    return None if expires_at is None else expires_at - activates_at


async def made_by_each_way(
    api: Api, customer: str, *, earning: bool = True
) -> dict[str, dict[str, Any]]:
    """One lot made each way points are made; returns their operations by way. A program with
    no rules earns nothing on a purchase (``earning`` False): it makes no lot."""
    accrual = await api.accrue(customer, 100)
    credit = await api.post(
        f"/v1/customers/{customer}/adjustments",
        {"points": 50, "reason": "goodwill"},
        key=api.admin_key,
    )
    assert credit.status_code == 201, credit.text
    made = {"accrual": accrual, "adjustment": credit.json()}
    if not earning:
        return made
    bought = await api.post(
        f"/v1/customers/{customer}/purchases",
        {"document": {"id": f"R-{accrual['id']}"}, "lines": [receipt_line("oil", 1000)]},
    )
    assert bought.status_code == 201, bought.text
    return made | {"purchase": bought.json()["operation"]}


async def test_without_rules_the_programs_expiry_days_apply_to_every_lot(expiring: Api) -> None:
    api = expiring
    customer = await api.customer()

    made = await made_by_each_way(api, customer, earning=False)

    for way, operation in made.items():
        assert await lifetime(api, operation) == timedelta(days=30), way
    rules = (await api.get(f"/v1/programs/{api.program_id}/rules", key=api.admin_key)).json()
    assert (rules["version"], rules["rules"]["expiry"]) == (
        0,
        {"mode": "days", "days": 30, "months": None},
    )


async def test_the_rules_expiry_wins_over_the_programs_expiry_days(expiring: Api) -> None:
    api = expiring
    rules = {"earning": {"base_bp": 500}, "expiry": {"mode": "end_of_month", "months": 1}}
    assert (await put_rules(api, rules)).status_code == 200
    customer = await api.customer()

    made = await made_by_each_way(api, customer)

    for way, operation in made.items():
        activates_at, expires_at = await lot_of(api, operation)
        assert expires_at is not None, way
        assert (expires_at.day, expires_at.hour, expires_at.minute) == (1, 0, 0), way
        assert timedelta(days=28) < expires_at - activates_at <= timedelta(days=62), way


async def test_rules_saying_never_win_over_the_programs_expiry_days(expiring: Api) -> None:
    api = expiring
    assert (await put_rules(api, {"earning": {"base_bp": 500}})).status_code == 200
    customer = await api.customer()

    made = await made_by_each_way(api, customer)

    for way, operation in made.items():
        assert await lifetime(api, operation) is None, way


async def test_the_calls_own_expiry_wins_over_everything(expiring: Api) -> None:
    api = expiring
    rules = {"earning": {"base_bp": 500}, "expiry": {"mode": "days", "days": 90}}
    assert (await put_rules(api, rules)).status_code == 200
    customer = await api.customer()
    asked = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)

    accrual = await api.accrue(customer, 100, expires_at=asked.isoformat())
    bought = await api.post(
        f"/v1/customers/{customer}/purchases",
        {
            "document": {"id": "R-own"},
            "lines": [receipt_line("oil", 1000)],
            "expires_at": asked.isoformat(),
        },
    )
    assert bought.status_code == 201, bought.text

    assert (await lot_of(api, accrual))[1] == asked
    assert (await lot_of(api, bought.json()["operation"]))[1] == asked
    assert await lifetime(api, await api.accrue(customer, 100)) == timedelta(days=90)


async def test_a_bonus_expires_by_the_same_rule(expiring: Api) -> None:
    api = expiring
    assert (await put_rules(api, {"bonuses": {"welcome": 200}})).status_code == 200
    customer = await api.customer()
    operations = await api.get(f"/v1/customers/{customer}/operations")
    welcome = operations.json()["items"][0]
    assert welcome["reason"] == "welcome bonus"
    assert await lifetime(api, welcome) is None  # the rules say never

    rules = {"bonuses": {"welcome": 200}, "expiry": {"mode": "days", "days": 7}}
    assert (await put_rules(api, rules)).status_code == 200
    other = await api.customer(phone="+79120000002")
    welcome = (await api.get(f"/v1/customers/{other}/operations")).json()["items"][0]
    assert await lifetime(api, welcome) == timedelta(days=7)
