"""The live consistency check (decision 0028): a ledger written through the API checks clean,
account by account, as reconcile does; a row changed behind the API's back is reported by
kind in the log, the counters and the gauge the alert reads, and leaves the gauge once
repaired; the walk wraps and reaches every account once a walk, alone or shared by two
workers; the report rollups are compared with each program day's operations the same way;
and the worker runs it from its settings."""

import asyncio
import time
from typing import Any
from uuid import UUID

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from processing import telemetry
from processing.core import limits
from processing.core.live_check import DifferenceKind
from processing.runtime import Runtime
from processing.service.ledger.live_check import LiveCheck, PassReport, ReportDayReport
from processing.service.ledger.reconcile import reconcile
from tests.api.test_customer_merge import enroll, merge, spend
from tests.api.test_reports import a_year_of_operations, relay_everything
from tests.api.test_returns_by_line import bought_and_spent, return_lines
from tests.conftest import Api, make_program
from tests.deploy import manifests as m
from tests.integration.test_expiry import age_holds, age_lots, expire
from tests.invariants import live_check_walk


async def walk(runtime: Runtime, accounts_per_pass: int = 3) -> list[PassReport]:
    """The passes of one whole walk from where the shared walk stands."""
    check = LiveCheck(runtime.database, accounts_per_pass, 0)
    passes = [await check.check_pass()]
    while not passes[-1].ended_walk:
        passes.append(await check.check_pass())
    return passes


def found(passes: list[PassReport]) -> set[tuple[UUID, DifferenceKind]]:
    return {(d.account_id, d.kind) for one in passes for d in one.differences}


async def customer_accounts(runtime: Runtime) -> list[UUID]:
    rows = await runtime.pool.fetch("select id from accounts where kind = 'customer' order by id")
    return [row["id"] for row in rows]


def exported() -> dict[str, list[Any]]:
    """This process's /metrics: samples by name."""
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(telemetry.exposition().decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def sample(name: str, **labels: str) -> float:
    [value] = [s.value for s in exported()[name] if labels.items() <= s.labels.items()]
    return float(value)


unbalance = (
    "insert into entries (program_id, operation_id, account_id, points)"
    " select o.program_id, o.id, s.id, {points} from operations o"
    " join accounts s on s.program_id = o.program_id and s.kind = 'issued'"
    " where o.account_id = $1 and o.type = 'accrual'"
)


def alert_fires() -> bool:
    """BonusLedgerDifference's expression, evaluated on this process's /metrics: the test
    fails if the rule stops being the maximum of the gauge above zero."""
    expression = m.alert_expressions()["BonusLedgerDifference"]
    assert expression.strip() == "max(bonus_live_check_accounts_differing) > 0"
    return max(s.value for s in exported()["bonus_live_check_accounts_differing"]) > 0


async def test_a_ledger_written_through_the_api_checks_clean(api: Api) -> None:
    customer = await api.customer("+79120000004", points=100)
    await spend(api, customer, 30)  # reserve and commit
    accrued = await api.accrue(customer, 50)
    refunded = await api.post(
        f"/v1/operations/{accrued['id']}/refunds", {"points": 20, "document": {"id": "RET-A"}}
    )
    assert refunded.status_code == 201, refunded.text
    open_hold = await api.reserve(customer, 10)
    assert open_hold.status_code == 201, open_hold.text
    expiring = await api.customer("+79120000002", points=40)
    await api.reserve(expiring, 15)
    await age_lots(api, expiring)
    await age_holds(api, expiring)
    swept = await expire(api)
    assert (swept["expired_lots"], swept["expired_holds"]) == (1, 1)
    indebted, purchase_id = await bought_and_spent(api, "debt")
    assert (await return_lines(api, purchase_id, [("brakes", 1)], "RET-1")).status_code == 201
    survivor = await enroll(api, "+79120000003")
    await api.accrue(survivor, 5)
    assert (await merge(api, survivor, indebted)).status_code == 200
    checked_before = sample("bonus_live_check_accounts_total")

    passes = await walk(api.runtime, accounts_per_pass=2)

    assert found(passes) == set()
    assert sorted(a for one in passes for a in one.accounts) == await customer_accounts(api.runtime)
    assert passes[-1].accounts_differing == 0
    assert sample("bonus_live_check_accounts_total") - checked_before == 4  # four customers
    assert (await reconcile(api.runtime.database)).differences == []


# A change behind the API's back, the change that undoes it, and the kinds it shows as.
corruptions = [
    pytest.param(
        "update accounts set posted = posted + 1 where id = $1",
        "update accounts set posted = posted - 1 where id = $1",
        {DifferenceKind.posted},
        id="posted",
    ),
    pytest.param(
        "update accounts set reserved = reserved + 1 where id = $1",
        "update accounts set reserved = reserved - 1 where id = $1",
        {DifferenceKind.reserved},
        id="reserved",
    ),
    pytest.param(
        "update accounts set debt = debt + 7 where id = $1",
        "update accounts set debt = debt - 7 where id = $1",
        {DifferenceKind.debt},
        id="debt",
    ),
    pytest.param(
        "update lots set remaining = remaining - 1 where account_id = $1",
        "update lots set remaining = remaining + 1 where account_id = $1",
        {DifferenceKind.posted, DifferenceKind.lot_entries},
        id="lot-remaining",
    ),
    pytest.param(
        "update lots set held = held + 1 where account_id = $1",
        "update lots set held = held - 1 where account_id = $1",
        {DifferenceKind.reserved, DifferenceKind.lot_holds},
        id="lot-held",
    ),
    pytest.param(
        "update operations set refunded_points = refunded_points + 1"
        " where account_id = $1 and type = 'accrual'",
        "update operations set refunded_points = refunded_points - 1"
        " where account_id = $1 and type = 'accrual'",
        {DifferenceKind.refunds},
        id="refunded-points",
    ),
    pytest.param(
        # Entries refuse UPDATE, and an operation whose entries do not sum to zero is refused at
        # commit: one more entry on the program's issued account, written with triggers off (as
        # a restore with --disable-triggers writes), unbalances the customer's accrual without
        # touching the customer's own figures, and a correcting entry balances it again.
        unbalance.format(points=3),
        unbalance.format(points=-3),
        {DifferenceKind.unbalanced_operations},
        id="unbalanced",
    ),
]


async def change_behind_the_api(api: Api, statement: str, account: UUID) -> None:
    async with api.runtime.pool.acquire() as connection, connection.transaction():
        if statement.startswith("insert into entries"):
            await connection.execute("set local session_replication_role = replica")
        await connection.execute(statement, account)


@pytest.mark.parametrize(("corruption", "undo", "kinds"), corruptions)
async def test_a_row_changed_behind_the_api_is_reported_until_repaired(
    api: Api, corruption: str, undo: str, kinds: set[DifferenceKind]
) -> None:
    bystander = await api.customer("+79120000010", points=20)
    customer = await api.customer(points=100)
    assert (await api.reserve(customer, 10)).status_code == 201
    account = UUID(customer)
    before = {kind: sample("bonus_live_check_differences_total", kind=kind) for kind in kinds}
    await change_behind_the_api(api, corruption, account)

    with capture_logs() as logs:
        passes = await walk(api.runtime)

    assert found(passes) == {(account, kind) for kind in kinds}
    assert UUID(bystander) not in {account for account, _ in found(passes)}
    lines = [line for line in logs if line["event"] == "ledger_difference"]
    assert {(line["account_id"], line["kind"]) for line in lines} == {
        (customer, kind.value) for kind in kinds
    }
    assert all(line["log_level"] == "error" for line in lines)
    for kind in kinds:
        assert sample("bonus_live_check_differences_total", kind=kind) == before[kind] + 1
    assert sample("bonus_live_check_accounts_differing") == 1
    assert alert_fires()
    listed = await api.runtime.pool.fetchrow("select * from live_check_differences")
    assert listed["account_id"] == account
    assert set(listed["kinds"].split(",")) == {kind.value for kind in kinds}
    # reconcile, over the whole ledger, sees the same account differ.
    assert (await reconcile(api.runtime.database)).differences

    # Found again on the next walk, it is still one account differing.
    await walk(api.runtime)
    assert sample("bonus_live_check_accounts_differing") == 1
    await change_behind_the_api(api, undo, account)
    passes = await walk(api.runtime)
    assert found(passes) == set()
    assert sample("bonus_live_check_accounts_differing") == 0
    assert not alert_fires()
    assert await api.runtime.pool.fetchval("select count(*) from live_check_differences") == 0


async def test_the_walk_wraps_and_checks_every_account_once_a_walk(api: Api) -> None:
    for n in range(7):
        await api.customer(f"+7912000002{n}", points=n + 1)
    accounts = await customer_accounts(api.runtime)

    first = await walk(api.runtime, accounts_per_pass=3)
    second = await walk(api.runtime, accounts_per_pass=3)

    for passes in (first, second):
        assert [len(one.accounts) for one in passes] == [3, 3, 1]
        assert [a for one in passes for a in one.accounts] == accounts
    assert second[-1].walk_completed_at > first[-1].walk_completed_at
    completed = sample("bonus_live_check_walk_completed_timestamp_seconds")
    assert completed == pytest.approx(second[-1].walk_completed_at.timestamp())
    assert (
        await api.runtime.pool.fetchval(
            "select walks_completed from live_check_walk where walk = 'accounts'"
        )
        == 2
    )
    # A walk that ends exactly at the last account finds the end on the next, empty, claim.
    exact = await walk(api.runtime, accounts_per_pass=7)
    assert [len(one.accounts) for one in exact] == [7, 0]


async def test_two_workers_share_one_walk(api: Api) -> None:
    for n in range(9):
        await api.customer(f"+7912000003{n}", points=1)
    accounts = await customer_accounts(api.runtime)
    workers = [LiveCheck(api.runtime.database, 2, 0) for _ in range(2)]

    # Nine accounts two a pass is five claims (2, 2, 2, 2, 1): both workers claim at the same
    # moment twice, then one claims the last slice.
    rounds = [
        *await asyncio.gather(workers[0].check_pass(), workers[1].check_pass()),
        *await asyncio.gather(workers[0].check_pass(), workers[1].check_pass()),
        await workers[0].check_pass(),
    ]

    claimed = [a for report in rounds for a in report.accounts]
    assert sorted(claimed) == accounts  # each account once, by one worker or the other
    assert sum(report.ended_walk for report in rounds) == 1
    assert (
        await api.runtime.pool.fetchval(
            "select walks_completed from live_check_walk where walk = 'accounts'"
        )
        == 1
    )
    assert (await workers[1].check_pass()).accounts == accounts[:2]  # the next walk begins


async def test_the_worker_runs_the_check_from_its_settings(api: Api) -> None:
    await api.customer(points=1)
    await api.customer("+79120000002", points=2)
    runtime = api.runtime
    runtime.settings = msgspec.structs.replace(
        runtime.settings, live_check_accounts_per_pass=1, live_check_pause_seconds=0.01
    )
    await runtime.pool.execute("update accounts set posted = posted + 1 where kind = 'customer'")
    running = asyncio.create_task(runtime.run_live_check())
    try:
        deadline = time.monotonic() + 10
        while (
            await runtime.pool.fetchval(
                "select walks_completed from live_check_walk where walk = 'accounts'"
            )
            < 1
        ):
            assert time.monotonic() < deadline, "no walk ended"
            await asyncio.sleep(0.02)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert await runtime.pool.fetchval("select count(*) from live_check_differences") == 2
    assert sample("bonus_live_check_accounts_differing") == 2


@pytest.mark.parametrize("accounts_per_pass", [0, -1, limits.live_check_accounts_per_pass_max + 1])
async def test_a_pass_size_out_of_bounds_is_refused_naming_the_setting(
    runtime: Runtime, accounts_per_pass: int
) -> None:
    with pytest.raises(ValueError, match="BONUS_LIVE_CHECK_ACCOUNTS_PER_PASS"):
        LiveCheck(runtime.database, accounts_per_pass, 1.0)
    with pytest.raises(ValueError, match="BONUS_LIVE_CHECK_PAUSE_SECONDS"):
        LiveCheck(runtime.database, 10, -1.0)


async def test_invariants_helper_walks_clean(api: Api) -> None:
    await api.customer(points=3)
    assert await live_check_walk(api.runtime.database) == []


async def report_walk(runtime: Runtime) -> list[ReportDayReport]:
    """The program days of one whole walk of the report rollups, from where it stands."""
    check = LiveCheck(runtime.database, 10, 0)
    days = [await check.check_report_day()]
    while days[-1].day is not None:
        days.append(await check.check_report_day())
    return days


async def test_report_rollups_are_checked_program_day_by_day(api: Api) -> None:
    await a_year_of_operations(api, 8)
    await relay_everything(api)
    # One more operation the relay has not rolled up yet: neither side counts it.
    await api.accrue(await api.customer("+79129999999"), 5)
    async with api.runtime.pool.acquire() as connection:
        days = await connection.fetch(
            "select distinct (created_at at time zone 'Europe/Moscow')::date as day"
            " from operations order by 1"
        )

    walked = await report_walk(api.runtime)

    assert [one.day for one in walked[:-1]] == [(api.program_id_uuid, row["day"]) for row in days]
    assert [d for one in walked for d in one.differences] == []
    assert sample("bonus_live_check_report_days_differing") == 0

    # A rollup changed behind the ledger's back: its program day is reported until mended.
    changed = await api.runtime.pool.fetchrow(
        "select program_id, day, store_id, channel, type, credited from report_points"
        " where credited > 0 order by day desc, store_id, channel, type limit 1"
    )
    await api.runtime.pool.execute(
        "update report_points set credited = credited + 4"
        " where (program_id, day, store_id, channel, type) = ($1, $2, $3, $4, $5)",
        *list(changed.values())[:5],
    )
    await api.runtime.pool.execute(
        "update report_liability set points = points - 2"
        " where (program_id, day) = ($1, $2)"
        " and lot_activates_on = (select min(lot_activates_on) from report_liability"
        " where (program_id, day) = ($1, $2))",
        changed["program_id"],
        changed["day"],
    )
    with capture_logs() as logs:
        walked = await report_walk(api.runtime)
    found = [d for one in walked for d in one.differences]
    assert {(d.program_id, d.day, d.kind) for d in found} == {
        (changed["program_id"], changed["day"], DifferenceKind.report_points),
        (changed["program_id"], changed["day"], DifferenceKind.report_liability),
    }
    [points] = [d for d in found if d.kind is DifferenceKind.report_points]
    assert (points.figures["credited"], points.figures["ledger_credited"]) == (
        changed["credited"] + 4,
        changed["credited"],
    )
    assert {line["event"] for line in logs if line["log_level"] == "error"} == {
        "report_rollup_difference"
    }
    assert sample("bonus_live_check_report_days_differing") == 1
    assert m.alert_expressions()["BonusReportRollupDifference"].strip() == (
        "max(bonus_live_check_report_days_differing) > 0"
    )
    # The accounts are untouched: their own walk stays clean.
    assert await live_check_walk(api.runtime.database) == []

    await api.runtime.reports.rebuild(api.program_id_uuid)
    walked = await report_walk(api.runtime)
    assert [d for one in walked for d in one.differences] == []
    assert sample("bonus_live_check_report_days_differing") == 0


async def test_a_day_too_busy_to_check_is_left_to_reconcile_and_said(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.customer(points=5)
    await relay_everything(api)
    await api.runtime.pool.execute("update report_points set credited = credited + 1")
    monkeypatch.setattr(limits, "live_check_report_day_operations_max", 0)

    with capture_logs() as logs:
        walked = await report_walk(api.runtime)

    assert [d for one in walked for d in one.differences] == []
    [busy] = [line for line in logs if line["event"] == "report_day_too_busy_to_check"]
    assert (busy["program_id"], busy["operations"], busy["operations_max"]) == (
        api.program_id,
        1,  # the customer's one accrual
        0,
    )
    assert (await reconcile(api.runtime.database)).differences  # reconcile still sees it


async def test_programs_without_operations_are_passed_over_a_few_a_claim(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        await make_program(api.runtime, f"Empty {n}")
    monkeypatch.setattr(limits, "live_check_programs_per_claim_max", 2)
    check = LiveCheck(api.runtime.database, 10, 0)

    # Four programs, none with an operation: two looked at a claim, then the walk ends.
    claims = [await check.claim_report_day() for _ in range(3)]

    assert claims == [None, None, None]
    walk = await api.runtime.pool.fetchrow(
        "select program_id, walks_completed from live_check_walk where walk = 'report_points'"
    )
    assert (walk["program_id"], walk["walks_completed"]) == (None, 1)
