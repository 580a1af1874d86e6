"""The scenarios ``make bench`` runs through the HTTP API. Customers are the seeded ones
(``md5('customer' || n)::uuid``), chosen with a Zipf skew as at real tills."""

import asyncio
import bisect
import hashlib
import itertools
import random
import uuid
from collections import Counter

from loadtests.generator import Client, Stats, Task, closed_model, open_model, outcome_of

_serial = itertools.count()


def customer_id(number: int) -> str:
    return str(uuid.UUID(hashlib.md5(f"customer{number}".encode()).hexdigest()))  # noqa: S324


class Zipf:
    """Customer numbers 1..n with P(k) ∝ 1/k^s, sampled by inverse CDF on a precomputed table."""

    def __init__(self, n: int, s: float = 1.1, seed: int = 20261124) -> None:
        weights = [1 / k**s for k in range(1, n + 1)]
        total = sum(weights)
        self.cumulative = list(itertools.accumulate(weight / total for weight in weights))
        self.rng = random.Random(seed)

    def __call__(self) -> int:
        return bisect.bisect_left(self.cumulative, self.rng.random()) + 1


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_serial)}-{uuid.uuid4().hex[:8]}"


async def balance(client: Client, customer: str) -> list[str]:
    status, body = await client.get(f"/v1/customers/{customer}/balance")
    return [outcome_of(status, body)]


async def reserve_then(
    client: Client, customer: str, resolve: str, points: int = 5, replay: bool = False
) -> tuple[list[str], str | None]:
    """A reserve, then a commit or a cancel of it; with ``replay`` each call is sent twice with
    the same key, as a till does after a timeout. Returns the outcomes and the commit's id."""
    key = unique("hold")
    body = {"points": points, "document": {"id": key}}
    path = f"/v1/customers/{customer}/holds"
    status, hold = await client.post(path, body, key)
    outcomes = [outcome_of(status, hold)]
    if replay:
        again, _ = await client.post(path, body, key)
        outcomes.append("replayed" if again == status else f"replay_mismatch_{again}")
    if status != 201:
        return outcomes, None
    finish_key = unique(resolve)
    finish_path = f"/v1/holds/{hold['id']}/{resolve}"
    status, done = await client.post(finish_path, {} if resolve == "commit" else None, finish_key)
    outcomes.append(outcome_of(status, done))
    if replay:
        again, _ = await client.post(finish_path, {} if resolve == "commit" else None, finish_key)
        outcomes.append("replayed" if again == status else f"replay_mismatch_{again}")
    operation = str(done["id"]) if status == 200 and resolve == "commit" else None
    return outcomes, operation


async def http_floor(client: Client, concurrency: int, seconds: float) -> Stats:
    """The liveness probe: the same server, middleware, log line and metrics as every request,
    with no key, no database and no body to decode. What a request costs before it does work."""

    async def task(client: Client) -> list[str]:
        status, body = await client.get("/health/live")
        return [outcome_of(status, body)]

    return await closed_model("http-floor", task, client, concurrency, seconds)


async def balance_reads(client: Client, customers: int, concurrency: int, seconds: float) -> Stats:
    choose = Zipf(customers)

    async def task(client: Client) -> list[str]:
        return await balance(client, customer_id(choose()))

    return await closed_model("balance-read", task, client, concurrency, seconds)


async def reserve_commit_pairs(
    client: Client, customers: int, concurrency: int, seconds: float
) -> Stats:
    choose = Zipf(customers)

    async def task(client: Client) -> list[str]:
        outcomes, _ = await reserve_then(client, customer_id(choose()), "commit")
        return outcomes

    return await closed_model("reserve-commit-pair", task, client, concurrency, seconds)


async def hot_account_pairs(client: Client, concurrency: int, seconds: float) -> Stats:
    hot = customer_id(1)

    async def task(client: Client) -> list[str]:
        outcomes, _ = await reserve_then(client, hot, "commit", points=1)
        return outcomes

    return await closed_model("hot-account-pair", task, client, concurrency, seconds)


def pos_mix(customers: int) -> Task:
    """70 % balance reads, 20 % reserve → commit, 5 % reserve → cancel, 5 % refunds of an earlier
    commit; 5 % of the mutating tasks replay each call with the same key."""
    choose = Zipf(customers)
    rng = random.Random(7)
    commits: list[str] = []

    async def task(client: Client) -> list[str]:
        customer = customer_id(choose())
        draw = rng.random()
        replay = rng.random() < 0.05
        if draw < 0.70:
            return await balance(client, customer)
        if draw < 0.90 or (draw >= 0.95 and not commits):
            outcomes, operation = await reserve_then(client, customer, "commit", replay=replay)
            if operation is not None:
                commits.append(operation)
            return outcomes
        if draw < 0.95:
            outcomes, _ = await reserve_then(client, customer, "cancel", replay=replay)
            return outcomes
        key = unique("refund")
        path = f"/v1/operations/{commits.pop(rng.randrange(len(commits)))}/refunds"
        body = {"points": 1, "document": {"id": key}}
        status, refund = await client.post(path, body, key)
        outcomes = [outcome_of(status, refund)]
        if replay:
            again, _ = await client.post(path, body, key)
            outcomes.append("replayed" if again == status else f"replay_mismatch_{again}")
        return outcomes

    return task


async def pos_mix_closed(client: Client, customers: int, concurrency: int, seconds: float) -> Stats:
    return await closed_model("pos-mix-max", pos_mix(customers), client, concurrency, seconds)


async def pos_mix_open(client: Client, customers: int, rate: float, seconds: float) -> Stats:
    """The mix at a fixed arrival rate (the bench uses 60 % of the closed-loop maximum)."""
    return await open_model("pos-mix-60pct", pos_mix(customers), client, rate, seconds)


async def exact_k(client: Client, k: int, extra: int) -> Stats:
    """A fresh customer with exactly ``k`` points and ``k + extra`` concurrent 1-point holds:
    exactly ``k`` must succeed. The stats' outcomes say what happened; the bench checks them."""
    stats = Stats(name=f"exact-k ({k} of {k + extra})")
    client.timings = stats.requests
    key = unique("enroll")
    phone = f"+7955{next(_serial) % 10_000_000:07d}"
    status, customer = await client.post("/v1/customers", {"phone": phone}, key)
    assert status == 201, customer
    accrual_key = unique("accrual")
    body = {"points": k, "document": {"id": accrual_key}}
    status, _ = await client.post(f"/v1/customers/{customer['id']}/accruals", body, accrual_key)
    assert status == 201

    async def hold(_: int) -> str:
        hold_key = unique("exact")
        status, reply = await client.post(
            f"/v1/customers/{customer['id']}/holds",
            {"points": 1, "document": {"id": hold_key}},
            hold_key,
        )
        return outcome_of(status, reply)

    loop = asyncio.get_running_loop()
    started = loop.time()
    stats.outcomes = Counter(await asyncio.gather(*(hold(i) for i in range(k + extra))))
    stats.seconds = loop.time() - started
    stats.latencies = [stats.seconds]
    if stats.outcomes != Counter({"ok": k, "insufficient_points": extra}):
        stats.outcomes["EXACT_K_VIOLATED"] += 1
    return stats
