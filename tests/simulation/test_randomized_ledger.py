"""A seeded randomized simulation: thousands of concurrent mixed operations (accrue, reserve,
commit, cancel, refund, expire, adjust, replays with the same keys, time moving on) over dozens
of accounts, after which every ledger invariant holds with zero violations."""

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest

from tests.conftest import Api
from tests.invariants import assert_ledger_clean

accounts_count = 30
operations_total = 2400
concurrency = 24


@dataclass
class World:
    rng: random.Random
    customers: list[str] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)
    refundable: list[str] = field(default_factory=list)
    sent: list[tuple[str, Any, str, bytes, int]] = field(default_factory=list)
    acknowledged: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    replays_checked: int = 0
    serial: int = 0

    def key(self) -> str:
        self.serial += 1
        return f"sim-{self.serial}"


async def send(api: Api, world: World, path: str, body: Any, *, admin: bool = False) -> Any:
    key = world.key()
    response = await api.post(path, body, key=api.admin_key if admin else None, idempotency_key=key)
    world.statuses[response.status_code] += 1
    world.sent.append((path, body, key, response.content, response.status_code))
    if response.status_code in (200, 201) and "type" in response.json():
        payload = response.json()
        world.acknowledged[payload["id"]] += 1
        if payload["type"] in ("accrual", "commit"):
            world.refundable.append(payload["id"])
    return response


async def step(api: Api, world: World) -> None:
    rng = world.rng
    customer = world.customers[min(int(rng.paretovariate(1.2)) - 1, len(world.customers) - 1)]
    document = {"id": f"doc-{world.key()}"}
    choice = rng.random()
    if choice < 0.22:
        body: dict[str, Any] = {"points": rng.randint(1, 60), "document": document}
        if rng.random() < 0.2:
            body["activates_at"] = "2099-01-01T00:00:00Z"
        await send(api, world, f"/v1/customers/{customer}/accruals", body)
    elif choice < 0.47:
        response = await send(
            api, world, f"/v1/customers/{customer}/holds",
            {"points": rng.randint(1, 40), "document": document},
        )
        if response.status_code == 201:
            world.holds.append(response.json()["id"])
    elif choice < 0.62 and world.holds:
        hold = rng.choice(world.holds)
        body = {"points": rng.randint(1, 40)} if rng.random() < 0.5 else {}
        await send(api, world, f"/v1/holds/{hold}/commit", body)
    elif choice < 0.70 and world.holds:
        await send(api, world, f"/v1/holds/{rng.choice(world.holds)}/cancel", None)
    elif choice < 0.80 and world.refundable:
        body = {"document": document}
        if rng.random() < 0.6:
            body["points"] = rng.randint(1, 30)
        await send(api, world, f"/v1/operations/{rng.choice(world.refundable)}/refunds", body)
    elif choice < 0.83:
        points = rng.choice([-1, 1]) * rng.randint(1, 20)
        await send(
            api, world, f"/v1/customers/{customer}/adjustments",
            {"points": points, "reason": "simulation"}, admin=True,
        )
    elif choice < 0.85:
        await send(api, world, "/v1/expirations", None, admin=True)
    elif choice < 0.87:
        await move_time(api, world)
    elif world.sent:
        await replay(api, world)


async def move_time(api: Api, world: World) -> None:
    """Makes a random hold or lot overdue, as if its time had come."""
    if world.rng.random() < 0.5 and world.holds:
        await api.runtime.pool.execute(
            "update holds set expires_at = clock_timestamp() where id = $1",
            UUID(world.rng.choice(world.holds)),
        )
    else:
        await api.runtime.pool.execute(
            "update lots set expires_at = clock_timestamp() where id = ("
            " select id from lots where account_id = $1 and expires_at is null"
            " and activates_at < clock_timestamp() limit 1)",
            UUID(world.rng.choice(world.customers)),
        )


async def replay(api: Api, world: World) -> None:
    path, body, key, content, status = world.rng.choice(world.sent)
    admin = path.endswith(("/adjustments", "/expirations"))
    response = await api.post(
        path, body, key=api.admin_key if admin else None, idempotency_key=key
    )
    if path.endswith("/expirations"):
        return  # the sweep answers with its own count each time
    if response.status_code == 409 and response.json()["code"] == "idempotency_request_in_progress":
        return
    assert (response.status_code, response.content) == (status, content)
    world.replays_checked += 1


@pytest.mark.parametrize("seed", [20261122, 7])
async def test_randomized_operations_keep_every_invariant(api: Api, seed: int) -> None:
    world = World(rng=random.Random(seed))
    for index in range(accounts_count):
        world.customers.append(await api.customer(phone=f"+7912{seed % 1000:03d}{index:04d}"))
        await api.accrue(world.customers[-1], world.rng.randint(0, 500))

    for _ in range(operations_total // concurrency):
        await asyncio.gather(*(step(api, world) for _ in range(concurrency)))

    assert not [status for status in world.statuses if status >= 500]
    assert world.replays_checked > 50
    # I4: every acknowledged operation is in the ledger exactly once.
    ids = [UUID(operation) for operation in world.acknowledged]
    found = await api.runtime.pool.fetchval(
        "select count(*) from operations where id = any($1::uuid[])", ids
    )
    assert found == len(ids)
    assert max(world.acknowledged.values()) == 1
    # I1, I2, I5, I6, I7 and bounds.
    await assert_ledger_clean(api.runtime)
    for customer in world.customers:
        balance = await api.balance(customer)
        assert min(balance["available"], balance["reserved"], balance["pending"]) >= 0
