"""The load tests' fixtures are honest: the seeded customers form a ledger that reconciles and
the API serves; both pgbench baselines do the same ledger work the API does (their reserve →
commit pairs leave a ledger that reconciles, with every hold committed once); the replayed
baseline sends the statements the API sends for a pair, with nulls where the API's are and the
same constants, and leaves the rows an API pair leaves; the least-SQL functions write exactly the
rows the API writes for the same reserve, commit and read; and reconcile notices when a lot
change or an entry is missing, so its silence means something."""

import asyncio
import enum
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from asyncpg.connection import LoggedQuery

from loadtests import replay, wrk_runner
from loadtests.bench import (
    Setup,
    api_server,
    pgbench_script,
    postgres_server,
    run_pgbench,
    seeded_points,
)
from loadtests.scenarios import customer_id
from processing.adapters.postgres.queries import QUERIES
from processing.service.ledger.reconcile import reconcile
from tests.api.test_round_trips import Statements
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


def script_path(setup: Setup, script: str, folder: Path) -> Path:
    if script.endswith("hot"):
        pair = "least_reserve_commit.sql" if script.startswith("least") else "reserve_commit.sql"
        return pgbench_script(setup, folder, pair, hot=True)
    return pgbench_script(setup, folder, script)


@pytest.mark.parametrize(
    "script",
    [
        "reserve_commit.sql",
        "hot",
        "balance.sql",
        "least_reserve_commit.sql",
        "least_hot",
        "least_balance.sql",
    ],
)
async def test_baseline_scripts_do_the_api_ledger_work(
    api: Api, setup: Setup, script: str, tmp_path: Path
) -> None:
    path = script_path(setup, script, tmp_path)
    stats = await asyncio.to_thread(run_pgbench, setup, path, 2, None, "check", transactions=15)

    assert stats.outcomes == {"ok": 30}
    await assert_ledger_clean(api.runtime)
    committed = await api.runtime.pool.fetchval(
        "select count(*) from holds where status = 'committed' and committed_points = points"
    )
    reads = script.endswith("balance.sql")
    assert committed == (0 if reads else 30)
    if not reads:
        # Every call answered and stored its answer: a reserve's 201 and a commit's 200 each.
        answers = await api.runtime.pool.fetch(
            "select status_code, count(*) from idempotency_keys group by status_code"
        )
        assert {row["status_code"]: row["count"] for row in answers} == {200: 30, 201: 30}


# The rows of one customer's pair, with what differs between two honest writers (ids, clocks)
# left out, in the order they were written.
async def pair_rows(connection: asyncpg.Connection, customer: UUID, keys: list[str]) -> Any:
    operations = await connection.fetch(
        "select type, points, hold_id is not null as has_hold, document_id, channel, store_id,"
        " key_id, available_after, debt_delta, redeemed_points, returned_points, rules_version"
        " from operations where account_id = $1 and type <> 'accrual' order by seq",
        customer,
    )
    entries = await connection.fetch(
        "select o.type, a.kind, e.lot_id is not null as on_lot, e.points from entries e"
        " join operations o on o.id = e.operation_id join accounts a on a.id = e.account_id"
        " where o.account_id = $1 and o.type <> 'accrual' order by e.id",
        customer,
    )
    events = await connection.fetch(
        "select o.type as operation, x.type, x.payload from outbox x"
        " join operations o on o.id = x.operation_id"
        " where o.account_id = $1 and o.type <> 'accrual' order by x.id",
        customer,
    )
    holds = await connection.fetch(
        "select h.points, h.status, h.committed_points, h.store_id, h.document_id,"
        " h.expires_at - h.created_at as ttl, h.resolved_by = c.id as resolved_by_commit,"
        " h.operation_id = r.id as made_by_reserve,"
        " (select array_agg(points order by points) from hold_allocations"
        "  where hold_id = h.id) as allocated"
        " from holds h join operations r on r.hold_id = h.id and r.type = 'reserve'"
        " join operations c on c.hold_id = h.id and c.type = 'commit'"
        " where h.account_id = $1",
        customer,
    )
    state = await connection.fetch(
        "select a.posted, a.reserved, a.debt, l.points, l.remaining, l.held, l.open"
        " from accounts a join lots l on l.account_id = a.id where a.id = $1 order by l.points",
        customer,
    )
    answers = await connection.fetch(
        "select status_code, media_type, body from idempotency_keys where key = any($1)"
        " order by created_at",
        keys,
    )
    return {
        "operations": [dict(row) for row in operations],
        "entries": [dict(row) for row in entries],
        "events": [
            (row["operation"], row["type"], sorted(json.loads(row["payload"]).items()))
            for row in events
        ],
        "holds": [dict(row) for row in holds],
        "state": [dict(row) for row in state],
        "answers": [
            (row["status_code"], row["media_type"], answer_shape(row["body"])) for row in answers
        ],
    }


def answer_shape(body: bytes) -> dict[str, Any]:
    """A stored answer with its ids and clocks reduced to whether they are there."""
    answer = json.loads(body)
    volatile = ("id", "customer_id", "operation_id", "key_id", "hold_id")
    clocks = ("expires_at", "created_at", "resolved_at")
    return {
        name: (value is not None) if name in volatile + clocks else value
        for name, value in answer.items()
    }


def without_ids(rows: Any) -> Any:
    """The events' payload ids and clocks reduced to whether they are there."""
    shaped = []
    for operation, type_, payload in rows["events"]:
        items = [
            (name, value is not None)
            if name in ("operation_id", "customer_id", "created_at")
            else (name, value)
            for name, value in payload
        ]
        shaped.append((operation, type_, items))
    return {**rows, "events": shaped}


def soon() -> str:
    return (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0).isoformat()


async def test_least_sql_writes_the_rows_the_api_writes(api: Api, setup: Setup) -> None:
    # Two seeded customers alike, each also given 5 points that expire (so a hold takes from
    # two lots, soonest-expiring first): one pair through the API, the same pair through
    # least_sql, with the same key, store and receipt.
    through_api, through_sql = UUID(customer_id(2)), UUID(customer_id(3))
    for customer in (through_api, through_sql):
        accrual = {"points": 5, "document": {"id": f"gift-{customer}"}, "expires_at": soon()}
        headers = {"Authorization": f"Bearer {setup.key}", "Idempotency-Key": f"{customer}"}
        given = await api.client.post(
            f"/v1/customers/{customer}/accruals", json=accrual, headers=headers
        )
        assert given.status_code == 201, given.text
    headers = {"Authorization": f"Bearer {setup.key}", "Idempotency-Key": "api-reserve"}
    body = {"points": 7, "document": {"id": "receipt-1"}}
    reserved = await api.client.post(
        f"/v1/customers/{through_api}/holds", json=body, headers=headers
    )
    assert reserved.status_code == 201, reserved.text
    headers["Idempotency-Key"] = "api-commit"
    committed = await api.client.post(
        f"/v1/holds/{reserved.json()['id']}/commit", json={}, headers=headers
    )
    assert committed.status_code == 200, committed.text

    async with api.runtime.pool.acquire() as connection:
        key_id, program = UUID(setup.key_id), UUID(setup.program)
        hold = await connection.fetchrow(
            "select * from least_sql.reserve($1, 'sql-reserve', $2, 'store-1', $3, 7, 'receipt-1')",
            key_id,
            program,
            through_sql,
        )
        assert hold["status_code"] == 201
        commit = await connection.fetchrow(
            "select * from least_sql.commit($1, 'sql-commit', $2, 'store-1', $3)",
            key_id,
            program,
            hold["id"],
        )
        assert commit["status_code"] == 200
        by_api = await pair_rows(connection, through_api, ["api-reserve", "api-commit"])
        by_sql = await pair_rows(connection, through_sql, ["sql-reserve", "sql-commit"])
        balance = await connection.fetchval(
            "select least_sql.balance($1, $2)", program, through_sql
        )

    assert without_ids(by_sql) == without_ids(by_api)
    assert len(by_sql["entries"]) == 3  # two lots and the redeemed account
    assert len(by_sql["events"]) == 4
    served = await api.get(f"/v1/customers/{through_api}/balance", key=setup.key)
    assert json.loads(balance) == served.json()
    await assert_ledger_clean(api.runtime)


async def test_least_sql_answers_a_replay_and_refusals_as_the_api_does(
    api: Api, setup: Setup
) -> None:
    key_id, program, customer = UUID(setup.key_id), UUID(setup.program), UUID(customer_id(4))
    call = "select * from least_sql.reserve($1, $2, $3, 'store-1', $4, $5, $6)"
    async with api.runtime.pool.acquire() as connection:
        first = await connection.fetchrow(call, key_id, "k1", program, customer, 5, "r1")
        again = await connection.fetchrow(call, key_id, "k1", program, customer, 5, "r1")
        reused = await connection.fetchrow(call, key_id, "k1", program, customer, 6, "r1")
        duplicate = await connection.fetchrow(call, key_id, "k2", program, customer, 5, "r1")
        too_many = await connection.fetchrow(call, key_id, "k3", program, customer, 10**9, "r3")
        holds = await connection.fetchval("select count(*) from holds")

    assert (first["status_code"], again["status_code"], again["body"]) == (
        201,
        201,
        first["body"],
    )
    assert reused["status_code"] == 422
    assert (duplicate["status_code"], json.loads(duplicate["body"])["code"]) == (
        409,
        "duplicate_document",
    )
    assert json.loads(too_many["body"])["code"] == "insufficient_points"
    assert holds == 1
    await assert_ledger_clean(api.runtime)


class Sent(Statements):
    """The statements the API sends, each named as in ``QUERIES``, with its arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __call__(self, record: LoggedQuery) -> None:
        if record.query != QUERIES["authenticate"]:
            named = [name for name, text in QUERIES.items() if text == record.query]
            self.calls.append((named[0] if named else record.query, record.args))


async def api_pair(api: Api, setup: Setup, customer: str, reserve_key: str) -> None:
    """A reserve → commit pair as the bench's scenario sends it: the reserve's idempotency key
    is also its receipt."""
    headers = {"Authorization": f"Bearer {setup.key}", "Idempotency-Key": reserve_key}
    body = {"points": 7, "document": {"id": reserve_key}}
    reserved = await api.client.post(f"/v1/customers/{customer}/holds", json=body, headers=headers)
    assert reserved.status_code == 201, reserved.text
    headers["Idempotency-Key"] = f"{reserve_key}-commit"
    path = f"/v1/holds/{reserved.json()['id']}/commit"
    committed = await api.client.post(path, json={}, headers=headers)
    assert committed.status_code == 200, committed.text


def literal(argument: str) -> str | None:
    """A replayed argument that is a constant (a quoted string, an integer or a boolean), as
    text."""
    if len(argument) > 1 and argument[0] == argument[-1] == "'":
        return argument[1:-1]
    return argument if argument.lstrip("-").isdigit() or argument in ("true", "false") else None


def as_text(value: Any) -> str:
    """An argument the API sent, as Postgres reads a constant: an array as ``{a,b}``."""
    if isinstance(value, list):
        return "{" + ",".join(as_text(item) for item in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value.value if isinstance(value, enum.Enum) else value)


async def test_the_replay_sends_the_statements_the_api_sends_for_a_pair(
    api: Api, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first pair warms the server as the bench's earlier scenarios do (the redeemed account
    # is remembered); the second is the one compared.
    await api_pair(api, setup, customer_id(5), "warm-up")
    sent = Sent()
    with sent.counting(monkeypatch):
        await api_pair(api, setup, customer_id(6), "api-reserve")
        await asyncio.sleep(0)  # asyncpg hands each logged statement to the loop's next turn
    replayed = replay.replayed((setup.scripts / "reserve_commit.sql").read_text())

    assert [name for name, _ in sent.calls] == ["load_turn", "apply_plan"] * 2
    assert [name for name, _ in replayed] == [name for name, _ in sent.calls]
    for (name, values), (_, arguments) in zip(sent.calls, replayed, strict=True):
        assert len(arguments) == len(values), name
        sent_null = [number for number, value in enumerate(values, 1) if value is None]
        replayed_null = [number for number, item in enumerate(arguments, 1) if item == "null"]
        assert replayed_null == sent_null, name
        for number, (value, argument) in enumerate(zip(values, arguments, strict=True), 1):
            constant = literal(argument)
            if constant is not None:
                assert constant == as_text(value), f"{name} ${number}"


def receipt_named(rows: Any, receipt: str) -> Any:
    """The rows with the pair's receipt (a random number in the replay) written as a name."""
    if isinstance(rows, dict):
        return {name: receipt_named(value, receipt) for name, value in rows.items()}
    if isinstance(rows, list | tuple):
        return [receipt_named(value, receipt) for value in rows]
    return "<receipt>" if rows == receipt else rows


async def test_the_replay_leaves_the_rows_an_api_pair_leaves(
    api: Api, setup: Setup, tmp_path: Path
) -> None:
    # Two seeded customers alike: one pair through the API, one replayed by pgbench, 7 points.
    through_api, replayed = UUID(customer_id(2)), UUID(customer_id(3))
    await api_pair(api, setup, str(through_api), "api-reserve")
    script = pgbench_script(setup, tmp_path, "reserve_commit.sql")
    text = script.read_text()
    text = text.replace("\\set n random_zipfian(1, :customers, 1.1)", "\\set n 3")
    script.write_text(text.replace("\\set points random(1, 20)", "\\set points 7"))
    stats = await asyncio.to_thread(run_pgbench, setup, script, 1, None, "check", transactions=1)
    assert stats.outcomes == {"ok": 1}

    async with api.runtime.pool.acquire() as connection:
        keys = await connection.fetch(
            "select key from idempotency_keys where key_id = $1 and key not like 'api-%'"
            " order by created_at",
            UUID(setup.key_id),
        )
        replay_keys = [row["key"] for row in keys]
        by_api = await pair_rows(connection, through_api, ["api-reserve", "api-reserve-commit"])
        by_replay = await pair_rows(connection, replayed, replay_keys)

    assert len(replay_keys) == 2
    expected = receipt_named(without_ids(by_api), "api-reserve")
    assert receipt_named(without_ids(by_replay), replay_keys[0]) == expected
    assert [event[1] for event in by_replay["events"]] == [
        "hold.reserved",
        "balance.changed",
        "points.redeemed",
        "balance.changed",
    ]
    await assert_ledger_clean(api.runtime)


async def test_a_baseline_charges_postgres_its_cpu_in_every_run(
    setup: Setup, tmp_path: Path
) -> None:
    # The test server runs on this machine, as the bench's embedded one does; pgbench's backends
    # start and end inside each run, so their CPU reaches the meter only through the server.
    postgres = await postgres_server(setup.url, required=True)
    assert postgres is not None
    script = pgbench_script(setup, tmp_path, "balance.sql")
    for _ in range(3):
        stats = await asyncio.to_thread(
            run_pgbench, setup, script, 2, None, "check", transactions=1000, postgres=postgres
        )
        # 2,000 reads at some 50 µs of Postgres each: clock ticks (10 ms) cannot round it away.
        assert 0 < stats.cpu_us["postgres"] <= stats.cpu_us["machine"], stats.cpu_us


@pytest.mark.parametrize(
    "corruption",
    [
        # A lot change written wrong: the lot's remaining one point off what its entries say.
        # (Down, not up: a lot that spent fewer points than the offset would break its check
        # constraint instead of reaching reconcile.)
        "update lots set remaining = remaining - 1"
        " where id = (select lot_id from hold_allocations limit 1)",
        # A hold's earmark forgotten.
        "update lots set held = held + 2 where id = (select lot_id from hold_allocations limit 1)",
        # An entry forgotten (entries are append-only: the guard is lifted for the control).
        "alter table entries disable trigger entries_append_only;"
        " delete from entries where id = (select max(id) from entries"
        " where lot_id is not null and points < 0);"
        " alter table entries enable trigger entries_append_only",
    ],
)
async def test_reconcile_notices_what_a_baseline_left_out(
    api: Api, setup: Setup, corruption: str, tmp_path: Path
) -> None:
    path = setup.scripts / "least_reserve_commit.sql"
    await asyncio.to_thread(run_pgbench, setup, path, 2, None, "check", transactions=5)
    await assert_ledger_clean(api.runtime)

    async with api.runtime.pool.acquire() as connection:
        await connection.execute(corruption)

    assert (await reconcile(api.runtime.database)).differences != []


@pytest.mark.skipif(
    wrk_runner.wrk_binary() is None, reason="wrk is missing: `make wrk` installs it"
)
@pytest.mark.parametrize("mode", ["pairs", "balance"])
async def test_wrk_drives_the_api_and_completes_every_pair_it_counts(
    setup: Setup, mode: str, tmp_path: Path, api: Api
) -> None:
    customers_path = wrk_runner.customers_file(tmp_path, customers)
    with api_server(setup, workers=1) as server:
        stats = await asyncio.to_thread(
            wrk_runner.run_wrk, server.base, setup.key, mode, customers_path, 1, 4, "check"
        )

    # On shared cores a request may be refused as busy; what is counted was done.
    assert stats.tasks > 0, stats.outcomes
    assert stats.outcomes["ok"] == stats.tasks
    assert stats.cpu_us["generator"] > 0
    assert 0 < stats.percentile(0.5) <= stats.percentile(0.99) <= stats.percentile(0.999)
    committed = await api.runtime.pool.fetchval(
        "select count(*) from holds where status = 'committed' and committed_points = points"
    )
    # A commit still in flight when wrk stopped is done but not counted.
    in_flight = 4 if mode == "pairs" else 0
    assert (stats.tasks if mode == "pairs" else 0) <= committed <= stats.tasks + in_flight
    await assert_ledger_clean(api.runtime)
