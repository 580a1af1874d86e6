"""The load tests' fixtures are honest: the seeded customers form a ledger that reconciles and
the API serves, and the pgbench baseline does the same ledger work the API does (its reserve →
commit pairs leave a ledger that reconciles, with every hold committed once)."""

import asyncio

import pytest

from loadtests.bench import Setup, hot_script, run_pgbench, seeded_points
from loadtests.scenarios import customer_id
from tests.conftest import Api
from tests.invariants import assert_ledger_clean

customers = 40


@pytest.fixture
async def setup(database_url: str, redis_server: str) -> Setup:
    prepared = Setup(database_url, redis_server, customers)
    await prepared.prepare()
    return prepared


async def test_seeded_customers_reconcile_and_are_served(api: Api, setup: Setup) -> None:
    await assert_ledger_clean(api.runtime)
    balance = await api.get(f"/v1/customers/{customer_id(customers)}/balance", key=setup.key)
    assert balance.status_code == 200, balance.text
    assert balance.json()["available"] == seeded_points


@pytest.mark.parametrize("script", ["reserve_commit.sql", "hot", "balance.sql"])
async def test_baseline_scripts_do_the_api_ledger_work(
    api: Api, setup: Setup, script: str, tmp_path: object
) -> None:
    path = hot_script(tmp_path) if script == "hot" else setup.scripts / script  # type: ignore[arg-type]
    stats = await asyncio.to_thread(run_pgbench, setup, path, 2, None, "check", transactions=15)

    assert stats.outcomes == {"ok": 30}
    await assert_ledger_clean(api.runtime)
    committed = await api.runtime.pool.fetchval(
        "select count(*) from holds where status = 'committed' and committed_points = points"
    )
    assert committed == (0 if script == "balance.sql" else 30)
