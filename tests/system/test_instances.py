"""Several instances behind a real load balancer.

Two ``bonus serve`` instances, each with two uvicorn worker processes, share the test Postgres
and Redis behind HAProxy running ``deploy/haproxy/haproxy.cfg`` as shipped. The races that the
in-process concurrency tests prove for one process hold across processes and instances: exact-K
holds through the balancer, commit against cancel on one hold sent to different instances, the
same idempotency key arriving at two instances at once. Each instance's /metrics adds up its
workers (prometheus-client's multiprocess mode), so the two instances' counts sum to what was
sent. When one instance is killed with SIGKILL mid-burst, with calls proven to be in flight on
it (waiting in its own Postgres sessions), the calls it had not answered are retried by the
balancer on the other one, and each still applies exactly once.
"""

import asyncio
import contextlib
import itertools
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from processing.runtime import Runtime
from tests import servers
from tests.conftest import make_program
from tests.invariants import assert_ledger_clean
from tests.system.processes import (
    auth,
    environment,
    kill_session,
    start_serve,
    stop,
    wait_until_ready,
)

haproxy = shutil.which("haproxy")
pytestmark = pytest.mark.skipif(
    haproxy is None,
    reason="haproxy is not installed (`make test` installs it from Debian's packages as root)",
)

haproxy_config = Path(__file__).resolve().parents[2] / "deploy" / "haproxy" / "haproxy.cfg"
workers_per_instance = 2
client_timeout_seconds = 30


@dataclass
class Instance:
    process: asyncio.subprocess.Process
    base: str
    client: httpx.AsyncClient


@dataclass
class Cluster:
    balancer: httpx.AsyncClient
    instances: list[Instance]
    pos_key: str
    keys: "itertools.count[int]" = field(default_factory=itertools.count)

    def headers(self) -> dict[str, str]:
        return auth(self.pos_key, f"cluster-{next(self.keys)}")

    async def customer(self, phone: str, points: int) -> str:
        enrolled = await self.balancer.post(
            "/v1/customers", json={"phone": phone}, headers=self.headers()
        )
        assert enrolled.status_code == 201, enrolled.text
        customer: str = enrolled.json()["id"]
        accrued = await self.balancer.post(
            f"/v1/customers/{customer}/accruals",
            json={"points": points, "document": {"id": f"accrual-{customer}"}},
            headers=self.headers(),
        )
        assert accrued.status_code == 201, accrued.text
        return customer

    async def balance(self, customer: str) -> dict[str, Any]:
        response = await self.balancer.get(
            f"/v1/customers/{customer}/balance", headers=auth(self.pos_key, "")
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


def connection_limits() -> httpx.Limits:
    return httpx.Limits(max_connections=250, max_keepalive_connections=250)


def named_sessions(database_url: str, application_name: str) -> str:
    parts = urlsplit(database_url)
    query = "&".join(filter(None, [parts.query, f"application_name={application_name}"]))
    return urlunsplit(parts._replace(query=query))


async def start_instance(tmp_path: Path, name: str, database_url: str, redis_url: str) -> Instance:
    port = servers.free_port()
    env = environment(
        # Each instance's Postgres sessions carry its name, so a test can see what it is doing.
        database_url=named_sessions(database_url, f"bonus-{name}"),
        redis_url=redis_url,
        port=str(port),
        workers=str(workers_per_instance),
        expiry_worker="false",
        db_pool_min="1",
        db_pool_max="10",
    )
    stdout_path, stderr_path = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    process = await start_serve(env, stdout_path, stderr_path)
    base = f"http://127.0.0.1:{port}"
    client = httpx.AsyncClient(
        base_url=base, timeout=client_timeout_seconds, limits=connection_limits()
    )
    try:
        await wait_until_ready(client, process, stdout_path, stderr_path)
    except BaseException:
        await client.aclose()
        kill_session(process)
        raise
    return Instance(process, base, client)


@contextlib.asynccontextmanager
async def running_haproxy(
    tmp_path: Path, instances: list[Instance]
) -> AsyncIterator[httpx.AsyncClient]:
    assert haproxy is not None
    port = servers.free_port()
    env = {
        "BONUS_LB_BIND": f"127.0.0.1:{port}",
        "BONUS_INSTANCE_1": instances[0].base.removeprefix("http://"),
        "BONUS_INSTANCE_2": instances[1].base.removeprefix("http://"),
    }
    log = (tmp_path / "haproxy.log").open("wb")
    # -db: stay in the foreground, so the test owns the process.
    process = await asyncio.create_subprocess_exec(
        haproxy, "-db", "-f", str(haproxy_config), env=env, stdout=log, stderr=log
    )
    client = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        timeout=client_timeout_seconds,
        limits=connection_limits(),
    )
    try:
        for _ in range(100):
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/health/live")).status_code == 200:
                    break
            assert process.returncode is None, (tmp_path / "haproxy.log").read_text()
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(
                "haproxy did not answer: " + (tmp_path / "haproxy.log").read_text()
            )
        yield client
    finally:
        await client.aclose()
        if process.returncode is None:
            process.terminate()
            await process.wait()
        log.close()


@pytest.fixture
async def cluster(
    tmp_path: Path, database_url: str, redis_server: str, runtime: Runtime
) -> AsyncIterator[Cluster]:
    _, _, pos_key = await make_program(runtime)
    started = await asyncio.gather(
        *(
            start_instance(tmp_path, name, database_url, redis_server)
            for name in ("instance1", "instance2")
        ),
        return_exceptions=True,
    )
    instances = [one for one in started if isinstance(one, Instance)]
    try:
        for failure in started:
            if isinstance(failure, BaseException):
                raise failure
        async with running_haproxy(tmp_path, instances) as balancer:
            yield Cluster(balancer, instances, pos_key)
    finally:
        for instance in instances:
            await instance.client.aclose()
        await asyncio.gather(*(stop(instance.process) for instance in instances))


async def handled(instance: Instance, operation: str) -> int:
    """How many requests of this operation the instance answered, over all its workers."""
    metrics = (await instance.client.get("/metrics")).text
    return sum(
        int(sample.value)
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "bonus_requests_total" and sample.labels["operation"] == operation
    )


def codes(responses: list[httpx.Response]) -> Counter[str]:
    return Counter(
        "ok" if response.is_success else response.json().get("code", str(response.status_code))
        for response in responses
    )


async def test_exact_k_holds_through_the_balancer(cluster: Cluster, runtime: Runtime) -> None:
    customer = await cluster.customer("+79120000001", points=150)

    async def hold(n: int) -> httpx.Response:
        return await cluster.balancer.post(
            f"/v1/customers/{customer}/holds",
            json={"points": 1, "document": {"id": f"receipt-{n}"}},
            headers=cluster.headers(),
        )

    responses = await asyncio.gather(*(hold(n) for n in range(200)))

    assert codes(responses) == {"ok": 150, "insufficient_points": 50}
    assert {response.status_code for response in responses} == {201, 409}
    balance = await cluster.balance(customer)
    assert (balance["available"], balance["reserved"]) == (0, 150)
    # Both instances took part, and each /metrics counts all of its workers.
    per_instance = [await handled(instance, "reserve") for instance in cluster.instances]
    assert all(count > 0 for count in per_instance), per_instance
    assert sum(per_instance) == 200, per_instance
    await assert_ledger_clean(runtime)


async def test_commit_and_cancel_of_one_hold_on_two_instances_one_wins(
    cluster: Cluster, runtime: Runtime
) -> None:
    customer = await cluster.customer("+79120000002", points=300)
    holds = []
    for n in range(30):
        response = await cluster.balancer.post(
            f"/v1/customers/{customer}/holds",
            json={"points": 10, "document": {"id": f"race-{n}"}},
            headers=cluster.headers(),
        )
        assert response.status_code == 201, response.text
        holds.append(response.json()["id"])

    async def race(n: int, hold_id: str) -> tuple[httpx.Response, httpx.Response]:
        # Alternate which instance commits, so neither is always first in line.
        committer, canceller = cluster.instances[n % 2], cluster.instances[1 - n % 2]
        path = f"/v1/holds/{hold_id}"
        commit, cancel = await asyncio.gather(
            committer.client.post(f"{path}/commit", json={}, headers=cluster.headers()),
            canceller.client.post(f"{path}/cancel", headers=cluster.headers()),
        )
        return commit, cancel

    results = await asyncio.gather(*(race(n, hold_id) for n, hold_id in enumerate(holds)))

    committed = 0
    for commit, cancel in results:
        outcomes = (commit.status_code, cancel.status_code)
        assert outcomes in ((200, 409), (409, 200)), (commit.text, cancel.text)
        loser = cancel if commit.status_code == 200 else commit
        expected = (
            "hold_already_committed" if commit.status_code == 200 else ("hold_already_cancelled")
        )
        assert loser.json()["code"] == expected, loser.text
        committed += commit.status_code == 200
    balance = await cluster.balance(customer)
    assert (balance["available"], balance["reserved"]) == (300 - 10 * committed, 0)
    await assert_ledger_clean(runtime)


async def test_one_idempotency_key_on_two_instances_applies_once(
    cluster: Cluster, runtime: Runtime
) -> None:
    customer = await cluster.customer("+79120000003", points=100)
    first, second = cluster.instances

    for n in range(10):
        headers = auth(cluster.pos_key, f"twice-{n}")
        body = {"points": 3, "document": {"id": f"twice-{n}"}}
        path = f"/v1/customers/{customer}/holds"
        answers = await asyncio.gather(
            first.client.post(path, json=body, headers=headers),
            second.client.post(path, json=body, headers=headers),
        )
        created = [answer for answer in answers if answer.status_code == 201]
        assert created, [answer.text for answer in answers]
        others = [answer for answer in answers if answer.status_code != 201]
        assert all(
            (answer.status_code, answer.json()["code"]) == (409, "idempotency_request_in_progress")
            for answer in others
        ), [answer.text for answer in others]
        # Both 201s (when the second came after the first finished) are the same bytes.
        assert len({answer.content for answer in created}) == 1
        replay = await cluster.balancer.post(path, json=body, headers=headers)
        assert (replay.status_code, replay.content) == (201, created[0].content)

    holds = await runtime.pool.fetchval(
        "select count(*) from holds where account_id = $1::uuid", customer
    )
    assert holds == 10
    assert (await cluster.balance(customer))["reserved"] == 30
    await assert_ledger_clean(runtime)


async def sessions_waiting(runtime: Runtime, instance: str) -> int:
    """How many of the instance's Postgres sessions wait for a lock now."""
    count: int = await runtime.pool.fetchval(
        "select count(*) from pg_stat_activity"
        " where application_name = $1 and wait_event_type = 'Lock'",
        f"bonus-{instance}",
    )
    return count


async def until(condition: Callable[[], Awaitable[bool]], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, f"never came true: {what}"
        await asyncio.sleep(0.05)


async def test_an_instance_killed_mid_burst_loses_nothing_and_applies_nothing_twice(
    cluster: Cluster, runtime: Runtime
) -> None:
    """SIGKILL to an instance and both its workers while holds are in flight on it: the test holds
    the account's row lock, so the burst's calls wait inside the instances' own transactions,
    and the kill comes only once Postgres shows sessions of the victim waiting. Calls it had not
    answered are sent again by the balancer to the other instance with the same key: every call
    is answered, and each applies exactly once."""
    customer = await cluster.customer("+79120000004", points=1000)
    victim = cluster.instances[1]

    async def hold(n: int) -> httpx.Response:
        return await cluster.balancer.post(
            f"/v1/customers/{customer}/holds",
            json={"points": 1, "document": {"id": f"burst-{n}"}},
            headers=auth(cluster.pos_key, f"burst-{n}"),
        )

    async with runtime.pool.acquire() as blocker, blocker.transaction():
        await blocker.execute("select 1 from accounts where id = $1::uuid for update", customer)
        burst = [asyncio.create_task(hold(n)) for n in range(60)]

        async def victim_waits() -> bool:
            return await sessions_waiting(runtime, "instance2") > 0

        await until(victim_waits, "a call in flight on the instance to be killed")
        in_flight_on_victim = await sessions_waiting(runtime, "instance2")
        kill_session(victim.process)
        await victim.process.wait()
    answers = await asyncio.gather(*burst)

    assert in_flight_on_victim > 0
    assert codes(answers) == {"ok": 60}, [a.text for a in answers if not a.is_success]
    applied = await runtime.pool.fetch(
        "select document_id, count(*) as times from holds where account_id = $1::uuid"
        " group by document_id",
        customer,
    )
    assert sorted(row["document_id"] for row in applied) == sorted(f"burst-{n}" for n in range(60))
    assert {row["times"] for row in applied} == {1}

    # The balancer goes on answering from the instance that is left.
    reads = [
        await cluster.balancer.get(
            f"/v1/customers/{customer}/balance", headers=auth(cluster.pos_key, "")
        )
        for _ in range(20)
    ]
    assert [response.status_code for response in reads] == [200] * 20
    balance = await cluster.balance(customer)
    assert (balance["available"], balance["reserved"]) == (940, 60)
    await assert_ledger_clean(runtime)
