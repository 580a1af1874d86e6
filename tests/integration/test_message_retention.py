"""Message retention on real Postgres, through the worker's maintenance pass: messages sent,
failed or suppressed before the retention are purged and younger ones kept, a queued message
never; processed message_events past the retention are purged only once no scan could make
their key again (an outbox event, a welcome past the scan's day, a birthday of a year that is
over, a lot that has expired, a campaign's member), so a scan run after the purge tells nothing
a second time; a lot still expiring and this year's birthday keep their keys; a campaign's
messages stay, since its figures are counted from them. Time is moved by ageing the rows (and an
expired lot's expiry), the database's clock staying where it is."""

from typing import Any
from uuid import UUID

from processing.core import limits
from processing.runtime import Runtime
from processing.service.messaging.outgoing import MessagePolicy, MessageRelay
from processing.workers.expiry import database_maintenance
from tests.api.test_bonuses import born_days_from_today
from tests.api.test_campaigns import everyone, shown, worker
from tests.api.test_segments import saved
from tests.conftest import Api

relay_policy = MessagePolicy(welcome_delay_seconds=0.0)
past_retention = float(limits.message_retention_seconds + 3600)


def relay_of(runtime: Runtime) -> MessageRelay:
    return MessageRelay(runtime.database, runtime.message_channels, runtime.triggers, relay_policy)


async def put(api: Api, path: str, body: dict[str, Any]) -> None:
    answered = await api.client.put(path, json=body, headers=api.headers(api.admin_key))
    assert answered.status_code == 200, answered.text


async def trigger(api: Api, name: str, **fields: Any) -> None:
    body = {"enabled": True, "kind": "transactional",
            "templates": [{"channel": "sms", "body": "{{ points }}"}]} | fields  # fmt: skip
    await put(api, f"/v1/programs/{api.program_id}/triggers/{name}", body)


async def made(runtime: Runtime) -> None:
    """The fan-out, then the relay until it has nothing left to do now."""
    async with runtime.database.transaction() as store:
        await store.fan_out(100)
    while await relay_of(runtime).run_once():
        pass


async def age(runtime: Runtime, table: str, where: str, *args: Any) -> None:
    """Rows made (and processed) before the retention, as if that long had passed."""
    moved = "created_at = clock_timestamp() - make_interval(secs => $1)"
    if table == "message_events":
        moved += ", processed_at = clock_timestamp() - make_interval(secs => $1)"
    await runtime.pool.execute(
        f"update {table} set {moved} where {where}",  # noqa: S608 (the test's own literals)
        past_retention,
        *args,
    )


async def keys(runtime: Runtime) -> set[str]:
    return {
        row["event_key"] for row in await runtime.pool.fetch("select event_key from message_events")
    }


async def test_settled_messages_past_the_retention_go_and_queued_ones_stay(
    api: Api, runtime: Runtime
) -> None:
    await put(api, f"/v1/programs/{api.program_id}/message-settings", {"time_zone": "UTC",
        "quiet_start_minute": 0, "quiet_end_minute": 0})  # fmt: skip
    await trigger(api, "points_accrued", templates=[
        {"channel": "sms", "body": "+{{ points }}"},
        {"channel": "email", "subject": "+", "body": "+{{ points }}"},
    ])  # fmt: skip
    old, young = await api.customer("+79120000041"), await api.customer("+79120000042")
    for customer in (old, young):
        await api.accrue(customer, 100)
    await made(runtime)
    states = await runtime.pool.fetch("select customer_id, channel, state from messages")
    assert sorted((str(row["customer_id"]) == old, row["state"]) for row in states) == [
        (False, "sent"), (False, "suppressed"), (True, "sent"), (True, "suppressed")
    ]  # fmt: skip
    # The old customer also has a failed and a queued message, all made before the retention.
    await runtime.pool.execute(
        """insert into messages (program_id, customer_id, channel, kind, trigger, event_key,
               template_version, locale, recipient, body, state, reason)
           values ($1, $2, 'sms', 'marketing', 'points_accrued', 'test:failed', 1, 'ru', 'x',
                   'x', 'failed', 'sms_gateway_refused'),
                  ($1, $2, 'sms', 'marketing', 'points_accrued', 'test:queued', 1, 'ru', 'x',
                   'x', 'queued', null)""",
        api.program_id_uuid,
        UUID(old),
    )
    await age(runtime, "messages", "customer_id = $2", UUID(old))

    await database_maintenance(runtime.database)

    left = await runtime.pool.fetch("select customer_id, state from messages")
    assert sorted((str(row["customer_id"]), row["state"]) for row in left) == sorted(
        [(young, "sent"), (young, "suppressed"), (old, "queued")]
    )


async def test_a_purge_in_batches_takes_every_old_row(api: Api, runtime: Runtime) -> None:
    customer = UUID(await api.customer("+79120000043"))
    rows = limits.message_purge_batch_rows * 2 + 5
    await runtime.pool.execute(
        """insert into messages (program_id, customer_id, channel, kind, trigger, event_key,
               template_version, locale, recipient, body, state, reason)
           select $1, $2, 'sms', 'marketing', 'points_accrued', 'test:' || n, 1, 'ru', 'x', 'x',
                  'suppressed', 'no_consent'
           from generate_series(1, $3::int) n""",
        api.program_id_uuid,
        customer,
        rows,
    )
    await age(runtime, "messages", "customer_id = $2", customer)

    await database_maintenance(runtime.database)

    assert await runtime.pool.fetchval("select count(*) from messages") == 0


async def test_purged_events_are_those_no_scan_could_make_again(api: Api, runtime: Runtime) -> None:
    await put(api, f"/v1/programs/{api.program_id}/message-settings", {"time_zone": "UTC",
        "quiet_start_minute": 0, "quiet_end_minute": 0})  # fmt: skip
    for name in ("points_accrued", "welcome"):
        await trigger(api, name)
    await trigger(api, "points_expiring", days_before=7)
    await trigger(api, "birthday", days_before=2)
    customer = await api.customer("+79120000044")
    born = await born_days_from_today(api, 1)
    edited = await api.client.patch(f"/v1/customers/{customer}",
        json={"birthday": born.isoformat()}, headers=api.headers(api.admin_key))  # fmt: skip
    assert edited.status_code == 200, edited.text
    soon = await runtime.pool.fetchval("select clock_timestamp() + interval '6 days'")
    await api.accrue(customer, 100, expires_at=soon.isoformat())  # told as expiring, still open
    await api.accrue(customer, 200, expires_at=soon.isoformat())  # told, then expires
    relay = relay_of(runtime)
    assert await relay.welcome() == 1
    assert await relay.scan() == 3  # two lots and the birthday
    await made(runtime)  # the accruals' outbox events too
    # The year the scan told the birthday in (tomorrow's, on the database's clock in UTC).
    this_year = await runtime.pool.fetchval(
        "select extract(year from (clock_timestamp() + interval '1 day') at time zone 'UTC')::int"
    )
    # A birthday told last year, as the scan made it then.
    await runtime.pool.execute(
        """insert into message_events (event_key, program_id, type, payload, processed_at)
           values ('birthday:' || $2::text || ':' || $3::int, $1, 'customer.birthday',
                   jsonb_build_object('customer_id', $2::text, 'birthday_year', $3::int),
                   clock_timestamp())""",
        api.program_id_uuid,
        customer,
        this_year - 1,
    )
    expired = await runtime.pool.fetchval("select id from lots where remaining = 200")
    before = await keys(runtime)
    assert len(before) == 7, before  # two outbox, welcome, two lots, two birthdays
    # Time passes: every event is processed past the retention, the customer was enrolled long
    # ago, and the second lot has expired.
    await age(runtime, "message_events", "true")
    await age(runtime, "customers", "id = $2", UUID(customer))
    await runtime.pool.execute(
        "update lots set activates_at = clock_timestamp() - interval '2 minutes',"
        " expires_at = clock_timestamp() - interval '1 minute' where id = $1",
        expired,
    )
    unprocessed = await runtime.pool.fetchval(
        """insert into message_events (event_key, program_id, type, payload)
           values ('outbox:0', $1, 'points.accrued', '{}') returning event_key""",
        api.program_id_uuid,
    )

    await database_maintenance(runtime.database)

    open_lot = await runtime.pool.fetchval("select id from lots where remaining = 100")
    kept = await keys(runtime)
    assert kept == {f"lot:{open_lot}:7d", f"birthday:{customer}:{this_year}", unprocessed}
    # Nothing is told again: the scans find what they found before the purge, or nothing.
    assert await relay.welcome() == 0
    assert await relay.scan() == 0
    assert await keys(runtime) == kept


async def test_a_campaigns_messages_stay_for_its_figures_and_its_events_go(
    api: Api, runtime: Runtime
) -> None:
    await put(api, f"/v1/programs/{api.program_id}/message-settings", {"time_zone": "UTC",
        "quiet_start_minute": 0, "quiet_end_minute": 0})  # fmt: skip
    customer = await api.customer("+79120000045")
    given = await api.post(
        f"/v1/customers/{customer}/consents", {"channel": "sms", "granted": True, "source": "web"}
    )
    assert given.status_code == 201, given.text
    body = {"name": "Весна", "segment_id": (await saved(api, everyone))["id"], "reason": "news",
            "templates": [{"channel": "sms", "body": "Новая коллекция!"}]}  # fmt: skip
    created = await api.post(f"/v1/programs/{api.program_id}/campaigns", body, key=api.admin_key)
    assert created.status_code == 201, created.text
    await worker(api).run_due()
    await made(runtime)
    assert (await shown(api, created.json()["id"]))["messages"]["sent"] == 1
    await age(runtime, "messages", "true")
    await age(runtime, "message_events", "true")

    await database_maintenance(runtime.database)

    assert await runtime.pool.fetchval("select count(*) from messages") == 1
    assert await keys(runtime) == set()
    assert (await shown(api, created.json()["id"]))["messages"]["sent"] == 1
