"""The idempotency-key purge the worker runs: keys older than the retention are forgotten and
younger ones kept, and a request replayed after its key was forgotten still cannot apply twice,
because its business document is unique too."""

from typing import Any

from processing.core import limits
from processing.workers.expiry import database_maintenance
from tests.conftest import Api
from tests.invariants import assert_ledger_clean


async def accrue(api: Api, customer: str, points: int, document: str, key: str) -> Any:
    return await api.post(
        f"/v1/customers/{customer}/accruals",
        {"points": points, "document": {"id": document}},
        idempotency_key=key,
    )


async def test_the_purge_forgets_old_keys_and_a_late_replay_still_applies_once(api: Api) -> None:
    customer = await api.customer()
    old = await accrue(api, customer, 10, "receipt-old", "old-key")
    young = await accrue(api, customer, 5, "receipt-young", "young-key")
    assert (old.status_code, young.status_code) == (201, 201)
    await api.runtime.pool.execute(
        "update idempotency_keys set created_at = clock_timestamp() - make_interval(secs => $1)"
        " where key = 'old-key'",
        float(limits.idempotency_retention_seconds + 60),
    )

    await database_maintenance(api.runtime.database)

    kept = await api.runtime.pool.fetch(
        "select key from idempotency_keys where key in ('old-key', 'young-key')"
    )
    assert [row["key"] for row in kept] == ["young-key"]
    replayed = await accrue(api, customer, 5, "receipt-young", "young-key")
    assert (replayed.status_code, replayed.content) == (201, young.content)
    assert replayed.headers["idempotent-replayed"] == "true"
    late = await accrue(api, customer, 10, "receipt-old", "old-key")
    assert (late.status_code, late.json()["code"]) == (409, "duplicate_document")
    assert (await api.balance(customer))["available"] == 15
    await assert_ledger_clean(api.runtime)
