"""Campaigns through the API and the worker (decision 0024): a bulk accrual over a segment's
snapshot accrues once per member, across two workers at once and across a worker killed
mid-run and started again; a blocked member is skipped with its reason; a cancel stops it;
every refusal names its field or state and changes nothing; the ledger reconciles clean."""

import asyncio
from typing import Any
from uuid import UUID

import pytest

from processing.service.messaging.campaigns import Campaigns
from tests.api.test_auth_and_tenancy import assert_problem
from tests.api.test_segments import at, saved
from tests.conftest import Api
from tests.invariants import assert_ledger_clean

everyone = {"all": [{"fact": "available", "min": 0}]}


async def enrolled(api: Api, n: int) -> list[str]:
    return [await api.customer(f"+7912000{i:04d}") for i in range(n)]


async def create(api: Api, body: dict[str, Any], program_id: str | None = None) -> Any:
    path = f"/v1/programs/{program_id or api.program_id}/campaigns"
    return await api.post(path, body, key=api.admin_key)


async def scheduled(api: Api, segment_id: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "Autumn", "segment_id": segment_id, "points": 50, "reason": "promo"}
    response = await create(api, body | fields)
    assert response.status_code == 201, response.text
    campaign: dict[str, Any] = response.json()
    assert campaign["state"] == "scheduled"
    return campaign


async def shown(api: Api, campaign_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/campaigns/{campaign_id}", key=api.admin_key)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def accruals(api: Api, campaign_id: str) -> dict[str, int]:
    """Each account's accruals the campaign made, by the document id it gives them."""
    async with api.runtime.pool.acquire() as connection:
        rows = await connection.fetch(
            "select account_id, count(*) as n, sum(points) as points from operations "
            "where type = 'accrual' and document_id like $1 group by account_id",
            f"campaign:{campaign_id}:%",
        )
    assert all(row["points"] == row["n"] * 50 for row in rows)
    return {str(row["account_id"]): int(row["n"]) for row in rows}


async def balance(api: Api, customer_id: str) -> int:
    response = await api.get(f"/v1/customers/{customer_id}/balance")
    assert response.status_code == 200, response.text
    available: int = response.json()["available"]
    return available


def worker(api: Api, **kw: Any) -> Campaigns:
    runtime = api.runtime
    return Campaigns(runtime.database, runtime.runner, runtime.campaigns.ledger, **kw)


async def test_a_campaign_accrues_once_to_each_member_of_its_snapshot(api: Api) -> None:
    members = await enrolled(api, 5)
    segment = await saved(api, everyone)
    campaign = await scheduled(api, segment["id"], expiry_days=30)
    assert campaign["members"] is None

    assert await worker(api, batch_members=2).run_due() == 1
    late = await api.customer("+79129999999")  # enrolled after the snapshot: not a member

    done = await shown(api, campaign["id"])
    assert (done["state"], done["members"], done["accrued"]) == ("finished", 5, 5)
    assert (done["pending"], done["failed"], done["skipped"]) == (0, 0, {})
    assert await accruals(api, campaign["id"]) == dict.fromkeys(members, 1)
    assert [await balance(api, member) for member in members] == [50] * 5
    assert await balance(api, late) == 0
    assert await worker(api).run_due() == 0  # nothing due any more: no second accrual
    assert await accruals(api, campaign["id"]) == dict.fromkeys(members, 1)
    await assert_ledger_clean(api.runtime)


async def test_two_workers_at_once_accrue_each_member_once(api: Api) -> None:
    members = await enrolled(api, 12)
    campaign = await scheduled(api, (await saved(api, everyone))["id"])

    await asyncio.gather(
        worker(api, batch_members=3).run_due(), worker(api, batch_members=5).run_due()
    )

    done = await shown(api, campaign["id"])
    assert (done["state"], done["members"], done["accrued"]) == ("finished", 12, 12)
    assert await accruals(api, campaign["id"]) == dict.fromkeys(members, 1)
    await assert_ledger_clean(api.runtime)


async def test_tills_writing_to_members_during_a_campaign_lose_nothing(api: Api) -> None:
    """The campaign's accruals skip the Redis turn a till takes (decision 0024): a till's
    write racing one on the same account is decided again on a fresh load, never lost."""
    members = await enrolled(api, 12)
    campaign = await scheduled(api, (await saved(api, everyone))["id"])

    await asyncio.gather(
        worker(api, batch_members=4).run_due(),
        *(api.accrue(member, 7) for member in members),
        *(api.accrue(member, 3) for member in members),
    )

    done = await shown(api, campaign["id"])
    assert (done["state"], done["accrued"]) == ("finished", 12)
    assert await accruals(api, campaign["id"]) == dict.fromkeys(members, 1)
    assert [await balance(api, member) for member in members] == [60] * 12
    await assert_ledger_clean(api.runtime)


async def test_a_batch_accrues_no_more_members_at_once_than_its_bound(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More accruals at once would only queue in Postgres ahead of the tills' statements."""
    members = await enrolled(api, 9)
    campaign = await scheduled(api, (await saved(api, everyone))["id"])
    bounded = worker(api, batch_members=9, accruals_at_once=3)
    real = bounded.ledger.accrue
    in_flight = most = 0

    async def counted(*args: Any) -> Any:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0.01)  # long enough for the others to start if they could
            return await real(*args)
        finally:
            in_flight -= 1

    monkeypatch.setattr(bounded.ledger, "accrue", counted)
    await bounded.run_due()

    assert most == 3
    assert await accruals(api, campaign["id"]) == dict.fromkeys(members, 1)


class Killed(Exception):
    """The worker dies between an accrual the ledger wrote and its record on the member."""


async def test_a_worker_killed_mid_run_resumes_and_never_accrues_twice(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = await enrolled(api, 7)
    campaign = await scheduled(api, (await saved(api, everyone))["id"])
    dying = worker(api, batch_members=3)
    real = dying.ledger.accrue
    calls = 0

    async def accrue_then_die(*args: Any) -> Any:
        nonlocal calls
        stored = await real(*args)
        calls += 1
        if calls == 4:  # in the second batch: an accrual written, then the worker dies
            raise Killed
        return stored

    monkeypatch.setattr(dying.ledger, "accrue", accrue_then_die)
    with pytest.raises(Killed):
        await dying.run_due()
    monkeypatch.undo()
    halfway = await shown(api, campaign["id"])
    # The second batch's other accruals ended and were recorded; the one that died was
    # written by the ledger but never recorded on its member, which is still pending.
    assert (halfway["state"], halfway["accrued"], halfway["pending"]) == ("running", 5, 2)
    assert len(await accruals(api, campaign["id"])) == 6

    assert await worker(api, batch_members=3).run_due() == 1

    done = await shown(api, campaign["id"])
    assert (done["state"], done["accrued"], done["pending"]) == ("finished", 7, 0)
    assert await accruals(api, campaign["id"]) == dict.fromkeys(members, 1)
    await assert_ledger_clean(api.runtime)


async def test_a_member_whose_answer_was_purged_is_recorded_not_accrued_again(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = await enrolled(api, 2)
    campaign = await scheduled(api, (await saved(api, everyone))["id"])
    dying = worker(api, batch_members=1)
    real = dying.ledger.accrue

    async def accrue_then_die(*args: Any) -> Any:
        await real(*args)
        raise Killed

    monkeypatch.setattr(dying.ledger, "accrue", accrue_then_die)
    with pytest.raises(Killed):
        await dying.run_due()
    monkeypatch.undo()
    async with api.runtime.pool.acquire() as connection:  # the retention's purge, early
        purged = await connection.execute(
            "delete from idempotency_keys where key like $1", f"campaign:{campaign['id']}:%"
        )
    assert purged == "DELETE 1"

    await worker(api).run_due()

    done = await shown(api, campaign["id"])
    assert (done["state"], done["accrued"], done["skipped"]) == ("finished", 2, {})
    assert await accruals(api, campaign["id"]) == dict.fromkeys(members, 1)
    await assert_ledger_clean(api.runtime)


async def test_a_cancelled_task_resumes_from_its_members_left(api: Api) -> None:
    members = await enrolled(api, 6)
    campaign = await scheduled(api, (await saved(api, everyone))["id"])
    slow = worker(api, batch_members=2, members_per_second=4)  # a batch each half second
    task = asyncio.create_task(slow.run_due())
    for _ in range(100):
        if (await shown(api, campaign["id"]))["accrued"] >= 2:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await shown(api, campaign["id"]))["pending"] > 0

    await worker(api).run_due()

    done = await shown(api, campaign["id"])
    assert (done["state"], done["accrued"]) == ("finished", 6)
    assert await accruals(api, campaign["id"]) == dict.fromkeys(members, 1)
    await assert_ledger_clean(api.runtime)


async def test_a_blocked_member_is_skipped_with_its_reason(api: Api) -> None:
    ann, bob = await enrolled(api, 2)
    block = await api.post(f"/v1/customers/{bob}/block", {"reason": "fraud"}, key=api.admin_key)
    assert block.status_code == 200, block.text
    campaign = await scheduled(api, (await saved(api, everyone))["id"])

    await worker(api).run_due()

    done = await shown(api, campaign["id"])
    assert (done["members"], done["accrued"], done["skipped"]) == (2, 1, {"account_blocked": 1})
    assert await accruals(api, campaign["id"]) == {ann: 1}
    await assert_ledger_clean(api.runtime)


async def test_a_cancel_stops_a_campaign_and_leaves_its_members_undone(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = await enrolled(api, 3)
    segment = await saved(api, everyone)
    before = await scheduled(api, segment["id"])
    cancel = await api.post(f"/v1/campaigns/{before['id']}/cancel", key=api.admin_key)
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["state"] == "cancelled"
    assert await worker(api).run_due() == 0

    # A running one: its snapshot taken, one batch accrued, then cancelled between batches.
    running = await scheduled(api, segment["id"])
    stopping = worker(api, batch_members=1)
    real = stopping.ledger.accrue
    cancelled = False

    async def accrue_then_cancel(*args: Any) -> Any:
        nonlocal cancelled
        stored = await real(*args)
        if not cancelled:
            cancelled = True
            path = f"/v1/campaigns/{running['id']}/cancel"
            assert (await api.post(path, key=api.admin_key)).status_code == 200
        return stored

    monkeypatch.setattr(stopping.ledger, "accrue", accrue_then_cancel)
    await stopping.run_due()

    done = await shown(api, running["id"])
    assert (done["state"], done["members"], done["accrued"], done["pending"]) == (
        "cancelled",
        3,
        1,
        2,
    )
    assert len(await accruals(api, running["id"])) == 1
    assert await accruals(api, before["id"]) == {}
    again = await api.post(f"/v1/campaigns/{running['id']}/cancel", key=api.admin_key)
    assert_problem(again, 409, "campaign_not_cancellable")
    assert sum([await balance(api, member) for member in members]) == 50
    await assert_ledger_clean(api.runtime)


async def test_a_finished_campaign_cannot_be_cancelled(api: Api) -> None:
    await enrolled(api, 1)
    campaign = await scheduled(api, (await saved(api, everyone))["id"])
    await worker(api).run_due()
    refused = await api.post(f"/v1/campaigns/{campaign['id']}/cancel", key=api.admin_key)
    assert_problem(refused, 409, "campaign_not_cancellable")
    assert (await shown(api, campaign["id"]))["state"] == "finished"


async def test_a_campaign_waits_for_its_start(api: Api) -> None:
    await enrolled(api, 1)
    campaign = await scheduled(api, (await saved(api, everyone))["id"], starts_at=at(hours=1))
    assert await worker(api).run_due() == 0
    assert (await shown(api, campaign["id"]))["state"] == "scheduled"


async def test_every_refusal_names_its_field_and_changes_nothing(api: Api) -> None:
    await enrolled(api, 1)
    segment = (await saved(api, everyone))["id"]
    good = {"name": "Autumn", "segment_id": segment, "points": 50, "reason": "promo"}
    sms = {"channel": "sms", "body": "{{ name }}, +{{ points }}"}
    cases = [
        ({"points": 0}, 400, "points"),
        ({"reason": ""}, 400, "reason"),
        ({"expires_at": at(days=-1)}, 400, "expires_at"),
        ({"expires_at": at(days=5), "expiry_days": 5}, 400, "expiry_days"),
        ({"expiry_days": 0}, 400, "expiry_days"),
        ({"segment_id": str(UUID(int=1))}, 404, "segment_id"),
        ({"points": None}, 400, "points"),  # neither points nor a message
        ({"points": None, "templates": [sms], "expiry_days": 5}, 400, "expiry_days"),
        ({"templates": [{"channel": "sms", "body": "{{ nope }}"}]}, 400, "templates[0].body"),
        ({"templates": [sms, sms]}, 400, "templates[1].channel"),
    ]
    for change, status, field in cases:
        refused = await create(api, good | change)
        assert refused.status_code == status, (change, refused.text)
        assert refused.json()["field"] == field, (change, refused.text)
    elsewhere = await create(api, good, program_id=str(UUID(int=2)))
    assert elsewhere.status_code == 404, elsewhere.text
    missing = await api.get(f"/v1/campaigns/{UUID(int=3)}", key=api.admin_key)
    assert_problem(missing, 404, "not_found")
    cancel_missing = await api.post(f"/v1/campaigns/{UUID(int=3)}/cancel", key=api.admin_key)
    assert_problem(cancel_missing, 404, "not_found")
    page = await api.get(f"/v1/programs/{api.program_id}/campaigns", key=api.admin_key)
    assert (page.status_code, page.json()["items"]) == (200, [])


async def test_campaigns_page_newest_first_and_replay_their_creation(api: Api) -> None:
    segment = (await saved(api, everyone))["id"]
    body = {"name": "One", "segment_id": segment, "points": 5, "reason": "promo"}
    first = await api.post(
        f"/v1/programs/{api.program_id}/campaigns", body, key=api.admin_key, idempotency_key="c1"
    )
    replay = await api.post(
        f"/v1/programs/{api.program_id}/campaigns", body, key=api.admin_key, idempotency_key="c1"
    )
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json()["id"] == first.json()["id"]
    second = await scheduled(api, segment)
    ids, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = await api.get(
            f"/v1/programs/{api.program_id}/campaigns", key=api.admin_key, **params
        )
        assert page.status_code == 200, page.text
        ids += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert ids == [second["id"], first.json()["id"]]
