"""A year of ledger generated straight in SQL, for the reports benchmark (issue 20): one program
with rules, ``customers`` customers with their accounts, and about ``operations`` operations
spread over the 365 days before ``now`` across ``stores`` stores and the channels pos, shop,
crm, admin and system. Set-based: a handful of ``insert … select`` statements over
``generate_series``, nothing through the API, so ten million operations take minutes.

Each generated *family* is one lot's life on one customer's account, every step of it in the
past and in the order the service would allow:

- an earning: a purchase (65 %: pos at a store, or the web shop) or an accrual (crm cashback,
  or a bonus at a till's store; 30 % of accruals pending for 14 days: ``activates_at`` later);
- 5 % a refund of the earning the next day (a third of it clawed back from its own lot);
- 51 % a reserve 20 days later (once the lot is active), resolved two minutes on: a commit
  (34 %, a tenth of those refunded in part five days later, giving points back to the lot), a
  cancel (8 %), a purchase paid partly with points (8 %: the hold carried its receipt; it
  spends from the lot and earns a lot of its own) or nothing (1 %: the hold expires after its
  day's TTL and the sweep's expire operation releases it; one still inside its TTL stays
  active, held in the lot and reserved on the account; of the last day's reserves, 10 % are
  still open);
- 2 % a debit and 2 % a credit (a lot of its own) by an operator 40 days on;
- each lot expiring 180 days after it activates, burnt by an expire operation an hour later
  (the lot's whole remainder: by then nothing holds it).

Entries are the service's shape: per leg, the customer's lot deltas and one entry on the
program's system account (issued, redeemed, expired, adjustments) for the opposite sum, so
each operation sums to zero. Afterwards the accounts' cached ``posted`` and ``reserved`` are
the sums of their lots' ``remaining`` and ``held``; every operation has one outbox event,
already relayed. The report rollups are left to ``bonus reports rebuild`` (what the bench
times); after it ``bonus reconcile`` finds nothing (tests/integration/test_reports_generator.py
checks it).

What the generator does not do as the service would: a debit or a commit takes from the
family's own lot, not the customer's soonest-expiring one; a sweep burns one lot per expire
operation, not every expired lot of the account at once; ``available_after`` (the balance
after the operation, shown on statements) is 0; operations name no API key.

Loading: while the bulk inserts run, the loaded tables' foreign keys are dropped and the
deferred ``entries_balanced`` trigger (one sum over the operation's entries per inserted entry,
at commit) is disabled; afterwards the foreign keys are added back, each validated by one
set-based query over the whole table, and the trigger enabled again, all in the same
transaction. What the trigger would have checked per row, reconcile checks for the whole
ledger in one statement (``reconcile_unbalanced_operations``). ``checked=True`` keeps every
constraint and trigger in place during the load instead (to measure what that costs).
"""

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

# Operations per family, on average, as the fractions above make them over a year (measured:
# the generator prints what it made).
operations_per_family = 2.55
lot_days = 180
# The program's rules: 5 % of the money back in points, points pay at most half a receipt,
# points expire 180 days after they activate.
rules = (
    '{"point_value_minor": 100, "earning": {"base_bp": 500},'
    ' "redemption": {"max_share_bp": 5000}, "expiry": {"mode": "days", "days": 180}}'
)
loaded_tables = (
    "operations",
    "lots",
    "holds",
    "hold_allocations",
    "entries",
    "outbox",
    "purchases",
)

# $1 program, $2 customers, $3 families, $4 now (every operation lies before it), $5 stores,
# $6 the rules.
program = [
    """insert into programs (id, name, currency, country, hold_ttl_seconds_default,
                             hold_ttl_seconds_max, expiry_days, created_at)
       values ($1, 'Reports bench', 'RUB', 'RU', 900, 86400, 180,
               $4::timestamptz - interval '400 days')""",
    """insert into program_rules (program_id, version, rules, created_at)
       values ($1, 1, $6::jsonb, $4::timestamptz - interval '400 days')""",
    """insert into accounts (id, program_id, kind)
       select gen_random_uuid(), $1, kind
       from unnest(array['issued', 'redeemed', 'expired', 'adjustments']) as kind""",
    """insert into customers (id, program_id, phone, created_at)
       select md5('customer' || n)::uuid, $1::uuid, '+7901' || lpad(n::text, 7, '0'),
              $4::timestamptz - interval '400 days' + make_interval(secs => n)
       from generate_series(1, $2::int) as n""",
    """insert into accounts (id, program_id, kind, customer_id, posted, reserved)
       select md5('customer' || n)::uuid, $1::uuid, 'customer', md5('customer' || n)::uuid,
              0, 0
       from generate_series(1, $2::int) as n""",
]

# The families: one draw of each random number a family's steps depend on, then every step's
# existence, time and points derived from them (all before $4).
families = [
    "select setseed(0.2026)",
    """create temp table family as
       select k, md5('customer' || (1 + floor(random() * $2::int)::int))::uuid as account_id,
              $4::timestamptz - interval '365 days'
                  + (k - 1 + random()) * (31536000.0 / $3::int) * interval '1 second' as t,
              random() as u_earn, random() as u_channel, random() as u_store,
              random() as u_points, random() as u_pending, random() as u_refund,
              random() as u_spend
       from generate_series(1, $3::int) as k""",
    """create temp table plan as
       select f.k, f.account_id, f.t, e.earn_type, e.channel, s.store_id, e.points,
              s.activates_at, s.activates_at + interval '180 days' as expires_at,
              s.clawed, s.spend, s.spent_at, 'store-' || lpad((1 + f.k % $5::int)::text, 2, '0')
                  as spend_store, r.reserved, r.spend_done, d.spent, d.given_back,
              d.hold_active, d.earned2, s.adjust, a.debited, a.credited, x.before_expiry,
              x.before_expiry > 0 and s.activates_at + interval '180 days 1 hour' < $4::timestamptz
                  as expires,
              d.earned2 > 0 and s.spent_at + interval '180 days 1 hour 2 minutes' < $4::timestamptz
                  as expires2,
              a.credited > 0 and f.t + interval '220 days 1 hour' < $4::timestamptz as expires3
       from family f,
       lateral (select case when f.u_earn < 0.65 then 'purchase' else 'accrual' end
                    as earn_type) t,
       lateral (select t.earn_type,
                       case when t.earn_type = 'purchase'
                            then case when f.u_channel < 0.8 then 'pos' else 'shop' end
                            else case when f.u_channel < 0.6 then 'crm' else 'pos' end
                       end as channel,
                       case when t.earn_type = 'purchase' then 10 + floor(f.u_points * 990)::int
                            else 50 + floor(f.u_points * 450)::int end as points,
                       t.earn_type = 'accrual' and f.u_pending < 0.3 as pending) e,
       lateral (select case when e.channel = 'pos'
                            then 'store-' || lpad((1 + floor(f.u_store * $5::int))::text, 2, '0')
                       end as store_id,
                       f.t + case when e.pending then interval '14 days' else interval '0' end
                           as activates_at,
                       case when f.u_refund < 0.05 and f.t + interval '1 day' < $4::timestamptz
                            then e.points / 3 else 0 end as clawed,
                       case when f.u_spend < 0.30 then 'commit'
                            when f.u_spend < 0.34 then 'commit_refund'
                            when f.u_spend < 0.42 then 'cancel'
                            when f.u_spend < 0.50 then 'redeem'
                            when f.u_spend < 0.51
                                 or f.u_spend < 0.6
                                    and f.t + interval '21 days' >= $4::timestamptz
                                then 'hold' end as spend,
                       f.t + interval '20 days' as spent_at,
                       case when f.t + interval '40 days' >= $4::timestamptz then 0
                            when f.u_refund >= 0.05 and f.u_refund < 0.07 then -1
                            when f.u_refund >= 0.07 and f.u_refund < 0.09 then 1
                            else 0 end as adjust) s,
       lateral (select greatest(1, (e.points - s.clawed) / 2) as reserved,
                       case when s.spend = 'hold' then s.spent_at < $4::timestamptz
                            when s.spend is not null
                                then s.spent_at + interval '1 hour' < $4::timestamptz
                            else false end as spend_done) r,
       lateral (select case when r.spend_done and s.spend in ('commit', 'commit_refund', 'redeem')
                            then r.reserved else 0 end as spent,
                       case when r.spend_done and s.spend = 'commit_refund'
                                 and s.spent_at + interval '5 days' < $4::timestamptz
                            then r.reserved / 2 else 0 end as given_back,
                       r.spend_done and s.spend = 'hold'
                           and s.spent_at + interval '1 day 1 minute' >= $4::timestamptz
                           as hold_active,
                       case when r.spend_done and s.spend = 'redeem' then e.points / 2 + 1
                            else 0 end as earned2) d,
       lateral (select e.points - s.clawed - d.spent + d.given_back as before_adjust) b,
       lateral (select case when s.adjust < 0 then greatest(1, b.before_adjust / 10) else 0 end
                           as debited,
                       case when s.adjust > 0 then 100 else 0 end as credited) a,
       lateral (select b.before_adjust - a.debited as before_expiry) x""",
    "drop table family",
    # Every operation, with up to two legs: a lot's delta (lot1, points1) against a system
    # account (counter1), and for a purchase paid with points the lot it earned (lot2).
    """create temp table planned as
       select md5(k || ':earn')::uuid as id, t as at, earn_type as type, account_id, points,
              channel, store_id, 'doc-' || k as document_id, null::text as reason,
              null::uuid as hold_id, null::uuid as refund_of, 0 as redeemed_points,
              clawed as refunded_points,
              case when earn_type = 'purchase' then 1 end as rules_version,
              md5(k || ':lot')::uuid as lot1, points as points1, 'issued' as counter1,
              null::uuid as lot2, 0 as points2
       from plan
       union all
       select md5(k || ':claw')::uuid, t + interval '1 day', 'refund', account_id, -clawed,
              channel, store_id, 'return-' || k, null, null, md5(k || ':earn')::uuid, 0, 0,
              null, md5(k || ':lot')::uuid, -clawed, 'issued', null, 0
       from plan where clawed > 0
       union all
       select md5(k || ':reserve')::uuid, spent_at, 'reserve', account_id, reserved, 'pos',
              spend_store, 'receipt-' || k, null, md5(k || ':hold')::uuid, null, 0, 0,
              case when spend = 'redeem' then 1 end, null, 0, null, null, 0
       from plan where spend_done
       union all
       select md5(k || ':resolve')::uuid,
              case when spend = 'hold' then spent_at + interval '1 day 1 minute'
                   else spent_at + interval '2 minutes' end,
              case spend when 'cancel' then 'cancel' when 'redeem' then 'purchase'
                         when 'hold' then 'expire' else 'commit' end,
              account_id,
              case spend when 'cancel' then reserved when 'hold' then reserved
                         when 'redeem' then earned2 - reserved else -reserved end,
              case when spend = 'hold' then 'system' else 'pos' end,
              case when spend = 'hold' then null else spend_store end,
              case when spend = 'redeem' then 'receipt-' || k end, null,
              md5(k || ':hold')::uuid, null,
              case when spend = 'redeem' then reserved else 0 end, given_back,
              case when spend = 'redeem' then 1 end,
              case when spent > 0 then md5(k || ':lot')::uuid end, -spent, 'redeemed',
              case when earned2 > 0 then md5(k || ':lot2')::uuid end, earned2
       from plan where spend_done and not hold_active
       union all
       select md5(k || ':giveback')::uuid, spent_at + interval '5 days', 'refund', account_id,
              given_back, 'pos', spend_store, 'giveback-' || k, null, null,
              md5(k || ':resolve')::uuid, 0, 0, null, md5(k || ':lot')::uuid, given_back,
              'redeemed', null, 0
       from plan where given_back > 0
       union all
       select md5(k || ':adjust')::uuid, t + interval '40 days', 'adjustment', account_id,
              credited - debited, 'admin', null, null,
              'correction', null, null, 0, 0, null,
              case when debited > 0 then md5(k || ':lot')::uuid
                   else md5(k || ':lot3')::uuid end,
              credited - debited, 'adjustments', null, 0
       from plan where adjust <> 0
       union all
       select md5(k || ':expire')::uuid, expires_at + interval '1 hour', 'expire', account_id,
              -before_expiry, 'system', null, null, null, null, null, 0, 0, null,
              md5(k || ':lot')::uuid, -before_expiry, 'expired', null, 0
       from plan where expires
       union all
       select md5(k || ':expire2')::uuid, spent_at + interval '180 days 1 hour 2 minutes',
              'expire', account_id, -earned2, 'system', null, null, null, null, null, 0, 0,
              null, md5(k || ':lot2')::uuid, -earned2, 'expired', null, 0
       from plan where expires2
       union all
       select md5(k || ':expire3')::uuid, t + interval '220 days 1 hour', 'expire', account_id,
              -credited, 'system', null, null, null, null, null, 0, 0, null,
              md5(k || ':lot3')::uuid, -credited, 'expired', null, 0
       from plan where expires3""",
]

# The ledger's rows from the plan, in time order (operations.seq and entries.id follow it).
ledger = [
    """insert into operations (id, program_id, account_id, type, points, refunded_points,
                               hold_id, refund_of, document_id, reason, channel, store_id,
                               available_after, created_at, rules_version, redeemed_points)
       select id, $1::uuid, account_id, type, points, refunded_points, hold_id, refund_of,
              document_id, reason, channel, store_id, 0, at, rules_version, redeemed_points
       from planned order by at""",
    """insert into lots (id, program_id, account_id, operation_id, points, remaining, held,
                         activates_at, expires_at)
       select md5(k || ':lot')::uuid, $1::uuid, account_id, md5(k || ':earn')::uuid, points,
              case when expires then 0 else before_expiry end,
              case when hold_active then reserved else 0 end, activates_at, expires_at
       from plan
       union all
       select md5(k || ':lot2')::uuid, $1::uuid, account_id, md5(k || ':resolve')::uuid, earned2,
              case when expires2 then 0 else earned2 end, 0, spent_at + interval '2 minutes',
              spent_at + interval '180 days 2 minutes'
       from plan where earned2 > 0
       union all
       select md5(k || ':lot3')::uuid, $1::uuid, account_id, md5(k || ':adjust')::uuid, credited,
              case when expires3 then 0 else credited end, 0, t + interval '40 days',
              t + interval '220 days'
       from plan where credited > 0""",
    """insert into holds (id, program_id, account_id, operation_id, points, status,
                          committed_points, expires_at, store_id, document_id, created_at,
                          resolved_at, resolved_by, receipt)
       select md5(k || ':hold')::uuid, $1::uuid, account_id, md5(k || ':reserve')::uuid, reserved,
              case when spend = 'cancel' then 'cancelled'
                   when spend = 'hold' and hold_active then 'active'
                   when spend = 'hold' then 'expired' else 'committed' end,
              case when spend in ('commit', 'commit_refund', 'redeem') then reserved end,
              spent_at + case when spend = 'hold' then interval '1 day'
                              else interval '15 minutes' end,
              spend_store, 'receipt-' || k, spent_at,
              case when hold_active then null
                   when spend = 'hold' then spent_at + interval '1 day 1 minute'
                   else spent_at + interval '2 minutes' end,
              case when not hold_active then md5(k || ':resolve')::uuid end,
              case when spend = 'redeem' then jsonb_build_array(jsonb_build_object(
                  'line_id', '1', 'sku', 'sku-' || k % 5000, 'category', 'grocery',
                  'quantity', 1, 'unit_price_minor', earned2 * 2000 + reserved * 100,
                  'discount_minor', 0)) end
       from plan where spend_done""",
    """insert into hold_allocations (hold_id, lot_id, points)
       select md5(k || ':hold')::uuid, md5(k || ':lot')::uuid, reserved
       from plan where spend_done""",
    """with system as (select id, kind from accounts
                       where program_id = $1::uuid and kind <> 'customer')
       insert into entries (program_id, operation_id, account_id, lot_id, points, created_at)
       select $1::uuid, p.id, coalesce(system.id, p.account_id), leg.lot_id, leg.points, p.at
       from planned p
       cross join lateral (
           values (1, null, p.lot1, p.points1), (2, p.counter1, null::uuid, -p.points1),
                  (3, null, p.lot2, p.points2), (4, 'issued', null::uuid, -p.points2)
       ) as leg (n, kind, lot_id, points)
       left join system on system.kind = leg.kind
       where leg.points <> 0
       order by p.at, p.id, leg.n""",
    """insert into outbox (program_id, operation_id, type, payload, created_at, relayed_at)
       select $1::uuid, id, 'balance.changed',
              jsonb_build_object('operation_id', id, 'type', type, 'customer_id', account_id),
              at, at
       from planned order by at""",
    """insert into purchases (operation_id, program_id, account_id, amount_minor, money_minor,
                              lines, created_at)
       select md5(k || ':earn')::uuid, $1::uuid, account_id, points * 2000, points * 2000,
              jsonb_build_array(jsonb_build_object(
                  'line_id', '1', 'sku', 'sku-' || k % 5000, 'category', 'grocery',
                  'quantity', 1, 'unit_price_minor', points * 2000, 'discount_minor', 0)), t
       from plan where earn_type = 'purchase'
       union all
       select md5(k || ':resolve')::uuid, $1::uuid, account_id, earned2 * 2000 + reserved * 100,
              earned2 * 2000,
              jsonb_build_array(jsonb_build_object(
                  'line_id', '1', 'sku', 'sku-' || k % 5000, 'category', 'grocery',
                  'quantity', 1, 'unit_price_minor', earned2 * 2000 + reserved * 100,
                  'discount_minor', 0)), spent_at + interval '2 minutes'
       from plan where earned2 > 0""",
    """update accounts set posted = totals.remaining, reserved = totals.held
       from (select account_id, sum(remaining) as remaining, sum(held) as held
             from lots where program_id = $1::uuid group by account_id) totals
       where accounts.id = totals.account_id""",
]


@dataclass(frozen=True)
class Generated:
    program_id: uuid.UUID
    customers: int
    families: int
    operations: int
    entries: int
    lots: int
    seconds: dict[str, float]


async def _run(connection: asyncpg.Connection, statement: str, values: tuple[object, ...]) -> None:
    """Runs ``statement`` with the values of the parameters it names, renumbered in order."""
    used = sorted({int(number) for number in re.findall(r"\$(\d)", statement)})
    place = {number: f"${at}" for at, number in enumerate(used, 1)}
    renumbered = re.sub(r"\$(\d)", lambda match: place[int(match[1])], statement)
    await connection.execute(renumbered, *(values[number - 1] for number in used))


async def _foreign_keys(connection: asyncpg.Connection) -> list[tuple[str, str, str]]:
    rows = await connection.fetch(
        "select conrelid::regclass::text as table_name, conname,"
        " pg_get_constraintdef(oid) as definition"
        " from pg_constraint where contype = 'f' and conrelid::regclass::text = any($1::text[])",
        list(loaded_tables),
    )
    return [(row["table_name"], row["conname"], row["definition"]) for row in rows]


async def _plain_indexes(connection: asyncpg.Connection) -> list[tuple[str, str]]:
    """The loaded tables' indexes that back no constraint (no primary key, no unique
    constraint): dropped for the load and built again after it, each in one sort."""
    rows = await connection.fetch(
        "select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as definition"
        " from pg_index i where i.indrelid::regclass::text = any($1::text[])"
        " and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)",
        list(loaded_tables),
    )
    return [(row["name"], row["definition"]) for row in rows]


async def generate(
    connection: asyncpg.Connection,
    *,
    customers: int,
    operations: int,
    stores: int = 20,
    now: datetime | None = None,
    checked: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> Generated:
    """Generates the year on a migrated database through ``connection`` (one transaction)."""
    program_id = uuid.uuid4()
    at = now or datetime.now().astimezone()
    at = at.replace(microsecond=0) - timedelta(minutes=10)
    family_count = max(1, round(operations / operations_per_family))
    values: tuple[object, ...] = (program_id, customers, family_count, at, stores, rules)
    seconds: dict[str, float] = {}

    async def step(name: str, statements: list[str]) -> None:
        started = time.perf_counter()
        for statement in statements:
            await _run(connection, statement, values)
        seconds[name] = time.perf_counter() - started
        progress(f"{name}: {seconds[name]:.1f} s")

    await connection.execute("set work_mem = '256MB'; set maintenance_work_mem = '512MB'")
    async with connection.transaction():
        await step("program and customers", program)
        await step("plan", families)
        foreign_keys = [] if checked else await _foreign_keys(connection)
        indexes = [] if checked else await _plain_indexes(connection)
        if not checked:
            for table, name, _ in foreign_keys:
                await connection.execute(f'alter table {table} drop constraint "{name}"')
            for name, _ in indexes:
                await connection.execute(f"drop index {name}")
            await connection.execute("alter table entries disable trigger entries_balanced")
        names = ("operations", "lots", "holds", "allocations", "entries", "outbox", "purchases")
        for name, statement in zip(names, ledger[:-1], strict=True):
            await step(name, [statement])
        await step("accounts", ledger[-1:])
        if not checked:
            started = time.perf_counter()
            for _, definition in indexes:
                await connection.execute(definition)
            seconds["indexes"] = time.perf_counter() - started
            progress(f"indexes built: {seconds['indexes']:.1f} s")
            started = time.perf_counter()
            await connection.execute("alter table entries enable trigger entries_balanced")
            for table, name, definition in foreign_keys:
                await connection.execute(
                    f'alter table {table} add constraint "{name}" {definition}'
                )
            seconds["foreign keys"] = time.perf_counter() - started
            progress(f"foreign keys validated: {seconds['foreign keys']:.1f} s")
        counts = await connection.fetchrow(
            "select (select count(*) from planned) as operations,"
            " (select count(*) from entries) as entries, (select count(*) from lots) as lots"
        )
        await connection.execute("drop table plan; drop table planned")
    assert counts is not None
    started = time.perf_counter()
    await connection.execute("vacuum analyze")
    seconds["vacuum analyze"] = time.perf_counter() - started
    progress(f"vacuum analyze: {seconds['vacuum analyze']:.1f} s")
    return Generated(
        program_id=program_id,
        customers=customers,
        families=family_count,
        operations=int(counts["operations"]),
        entries=int(counts["entries"]),
        lots=int(counts["lots"]),
        seconds=seconds,
    )
