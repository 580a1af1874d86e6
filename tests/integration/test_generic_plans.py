"""The write path's lookups by business document stay index lookups in a generic plan.

asyncpg prepares every statement, and after a few executions Postgres may plan one generically:
for parameters it does not know. ``operations_document`` is a partial index (only the operation
types a document applies once), so a query that names the type only as a parameter could not
use it generically and would read every operation, or keep being planned anew at each call.
The queries repeat the index's predicate; these plans, made with sequential scans priced out,
must not read ``operations`` whole.
"""

import uuid
from typing import Any

from processing.adapters.postgres.queries import QUERIES
from tests.conftest import Api


def literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return f"'{value}'"


async def generic_plan(api: Api, name: str, *arguments: Any) -> str:
    async with api.runtime.pool.acquire() as connection, connection.transaction():
        await connection.execute("set local plan_cache_mode = force_generic_plan")
        await connection.execute("set local enable_seqscan = off")
        await connection.execute(f"prepare probe as {QUERIES[name]}")
        try:
            listed = ", ".join(map(literal, arguments))
            rows = await connection.fetch(f"explain (costs off) execute probe({listed})")
        finally:
            await connection.execute("deallocate probe")
    return "\n".join(row[0] for row in rows)


async def test_a_write_in_turn_finds_its_document_by_index(api: Api) -> None:
    plan = await generic_plan(
        api,
        "load_turn",
        *(uuid.uuid4(), "key", uuid.uuid4(), None, api.program_id, "store-1"),
        *("receipt-1", "accrual", None, None, False, 365, False, False, None, "{AUTUMN}"),
    )
    assert "operations_document" in plan
    assert "Seq Scan on operations" not in plan, plan
    assert "Seq Scan on promo_codes" not in plan, plan  # a receipt's codes: by promo_codes_code


async def test_a_duplicate_document_is_named_by_index(api: Api) -> None:
    plan = await generic_plan(api, "find_document", api.program_id, None, "purchase", "cheque-1")
    assert "operations_document" in plan
    assert "Seq Scan on operations" not in plan, plan
