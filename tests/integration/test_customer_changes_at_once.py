"""Changes of customers and cards decided on a load and written in one statement with their
answer, raced against real Postgres and Redis: a phone or card number goes to one customer, a
card is blocked once, and a block or a manual tier decided on an account that moved meanwhile
is decided again rather than written on a stale load.

Every test runs twice: with the Redis account locks, and with them switched off, because the
locks only spare Postgres some contention; the guards in the statements must hold alone."""

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from processing.adapters.postgres.store import PostgresStore
from processing.adapters.redis.locks import NoAccountLocks
from processing.service import mutations
from tests.api.test_bonuses import bonus_rules
from tests.api.test_loyalty_rules_and_checkout import put_rules
from tests.api.test_tiers import now_rules
from tests.conftest import Api
from tests.invariants import assert_ledger_clean

racers = 10


@pytest.fixture(autouse=True, params=["redis-locks", "postgres-alone"])
def locking(request: pytest.FixtureRequest, api: Api) -> None:
    if request.param == "postgres-alone":
        api.runtime.runner.locks = NoAccountLocks()


class ReadTogether:
    """Holds the first ``parties`` loads until all of them have loaded, so that every racer
    decides on the same state and the write's guard, not the scheduler, picks the winner; the
    loads of the losers' second decisions pass at once."""

    def __init__(self, parties: int) -> None:
        self.left = parties
        self.all_read = asyncio.Event()

    async def wait(self) -> None:
        if self.all_read.is_set():
            return
        self.left -= 1
        if self.left == 0:
            self.all_read.set()
        await asyncio.wait_for(self.all_read.wait(), timeout=10)


def read_together(monkeypatch: pytest.MonkeyPatch, load: str, parties: int = racers) -> None:
    """Makes ``PostgresStore.<load>`` wait for the other racers' loads (``ReadTogether``)."""
    together = ReadTogether(parties)
    read: Callable[..., Awaitable[Any]] = getattr(PostgresStore, load)

    async def held(store: PostgresStore, *args: Any) -> Any:
        loaded = await read(store, *args)
        await together.wait()
        return loaded

    monkeypatch.setattr(PostgresStore, load, held)


def outcomes(responses: list[httpx.Response]) -> Counter[Any]:
    assert all(response.status_code < 500 for response in responses), [
        response.text for response in responses
    ]
    return Counter(
        response.status_code if response.is_success else response.json()["code"]
        for response in responses
    )


async def test_one_phone_enrolled_under_many_keys_at_once_makes_one_customer(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await put_rules(api, bonus_rules)).status_code == 200
    body = {"phone": "+79120000077", "name": "Anna"}
    read_together(monkeypatch, "enrollment")

    responses = await asyncio.gather(*(api.post("/v1/customers", body) for _ in range(racers)))

    assert outcomes(responses) == {201: 1, "customer_exists": racers - 1}
    (winner,) = [response.json() for response in responses if response.status_code == 201]
    losers = {response.json()["customer_id"] for response in responses if response.is_error}
    assert losers == {winner["id"]}
    assert (winner["phone"], winner["name"], winner["cards"]) == ("+79120000077", "Anna", [])
    assert (await api.get(f"/v1/customers/{winner['id']}")).json() == winner
    balance = await api.balance(winner["id"])
    assert balance["available"] == bonus_rules["bonuses"]["welcome"]  # granted once
    await assert_ledger_clean(api.runtime)


async def test_one_enrollment_sent_many_times_at_once_enrolls_once(api: Api) -> None:
    assert (await put_rules(api, bonus_rules)).status_code == 200
    body = {"phone": "+79120000078", "card_number": "7700-0001"}

    responses = await asyncio.gather(
        *(api.post("/v1/customers", body, idempotency_key="enroll-once") for _ in range(racers))
    )

    created = [response for response in responses if response.status_code == 201]
    assert created, "at least one of the duplicates answers with the customer"
    assert {response.content for response in created} == {created[0].content}
    assert set(outcomes(responses)) <= {201, "idempotency_request_in_progress"}
    customer = created[0].json()
    assert customer["cards"] == [{"number": "7700-0001", "status": "active", "reason": "issued"}]
    assert (await api.get(f"/v1/customers/{customer['id']}")).json() == customer
    assert (await api.balance(customer["id"]))["available"] == bonus_rules["bonuses"]["welcome"]
    await assert_ledger_clean(api.runtime)


async def test_one_card_number_offered_to_many_customers_at_once_goes_to_one(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = [await api.customer(phone=f"+7912000010{n}") for n in range(racers)]
    read_together(monkeypatch, "customer_change")

    responses = await asyncio.gather(
        *(
            api.post(f"/v1/customers/{customer}/cards", {"number": "7700-0002"})
            for customer in customers
        )
    )

    assert outcomes(responses) == {201: 1, "card_exists": racers - 1}
    (winner,) = [response.json() for response in responses if response.status_code == 201]
    card = (await api.get("/v1/cards/7700-0002")).json()
    assert card["customer_id"] == winner["id"]
    assert [event["status"] for event in card["events"]] == ["active"]


async def test_one_card_blocked_under_many_keys_at_once_is_blocked_once(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = await api.customer()
    issued = await api.post(f"/v1/customers/{customer}/cards", {"number": "7700-0003"})
    assert issued.status_code == 201, issued.text
    read_together(monkeypatch, "card_change")

    responses = await asyncio.gather(
        *(api.post("/v1/cards/7700-0003/block", {"reason": f"lost {n}"}) for n in range(racers))
    )

    assert outcomes(responses) == {200: 1, "card_blocked": racers - 1}
    (winner,) = [response.json() for response in responses if response.status_code == 200]
    journal = (await api.get("/v1/cards/7700-0003")).json()
    assert journal == winner
    assert [(event["status"], event["reason"]) for event in journal["events"]] == [
        ("active", "issued"),
        ("blocked", winner["reason"]),
    ]


@pytest.mark.parametrize("path", ["turn", "locked"])
async def test_a_block_and_a_manual_tier_amid_accruals_are_written_on_a_fresh_load(
    api: Api, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """Accruals move the account's version under the block and the tier: each is written
    only at the version it was decided on, so none of them is lost, written twice, or made
    to give up. On the "locked" path every race counts as lost at once: the change is decided
    under the account's row lock, as it is after two lost races."""
    if path == "locked":
        monkeypatch.setattr(mutations, "turn_attempts_max", 0)
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer()
    path = f"/v1/customers/{customer}"

    accruals = [
        api.post(f"{path}/accruals", {"points": 10, "document": {"id": f"amid-{n}"}})
        for n in range(racers)
    ]
    block = api.post(f"{path}/block", {"reason": "fraud check"}, key=api.admin_key)
    tier = api.client.put(
        f"{path}/tier",
        json={"tier": "gold", "reason": "loyal"},
        headers=api.headers(api.admin_key),
    )
    *accrued, blocked, tiered = await asyncio.gather(*accruals, block, tier)

    # An accrual after the block is refused; each one before it is kept.
    counted = outcomes(accrued)
    assert set(counted) <= {201, "account_blocked"}
    assert (blocked.status_code, blocked.json()["blocked_reason"]) == (200, "fraud check")
    assert (tiered.status_code, tiered.json()["tier_floor"]) == (200, "gold"), tiered.text
    shown = (await api.get(path)).json()
    assert (shown["blocked"], shown["blocked_reason"]) == (True, "fraud check")
    assert (await api.balance(customer))["available"] == 10 * counted[201]
    async with api.runtime.pool.acquire() as connection:
        told = await connection.fetch(
            "select payload from outbox where type = 'tier.changed'"
            " and payload ->> 'customer_id' = $1",
            customer,
        )
    assert len(told) == 1
    await assert_ledger_clean(api.runtime)
