-- name: live_check_claim
-- The next slice of the live check's shared walk (decision 0028): up to $1 customer accounts
-- after the last one claimed, in id order along the accounts' primary key, and the walk moved
-- past them; a short slice ends the walk, and the next claim starts again from the first
-- account. The walk's row is locked for this statement only, so workers claim one after
-- another and check their slices at the same time.
with walk as (
    select account_id from live_check_walk where walk = 'accounts' for update
), slice as (
    select a.id from accounts a
    where a.id > coalesce((select account_id from walk), '00000000-0000-0000-0000-000000000000')
      and a.kind = 'customer'
    order by a.id
    limit $1
), moved as (
    update live_check_walk set
        account_id = case when (select count(*) from slice) < $1 then null
                          else (select id from slice order by id desc limit 1) end,
        walk_started_at = case when (select account_id from walk) is null then clock_timestamp()
                               else walk_started_at end
    where walk = 'accounts'
    returning walk_completed_at
)
select array(select id from slice order by id) as accounts,
       (select count(*) from slice) < $1 as ends_walk,
       moved.walk_completed_at
from moved;

-- name: live_check_walk_completed
-- A worker checked the slice that ended walk $1 ('accounts', 'report_points'): every slice was
-- claimed once since the walk started.
update live_check_walk
set walks_completed = walks_completed + 1, walk_completed_at = clock_timestamp()
where walk = $1
returning walk_completed_at;

-- name: live_check_accounts
-- What reconcile checks over the whole ledger (reconcile.sql), for the accounts $1 only, in one
-- statement (one snapshot, so a concurrent operation never shows as a difference). Every read
-- starts from one account through an index: entries_account, lots_open, holds_active_account
-- and the allocations' primary key, operations_statement, operations_merged_from,
-- operations_refunds, entries_operation; none scans a table.
-- Lots: each lot the account's entries name, each open lot it owns and each lot its active
-- holds draw on, with its remaining and held points if the account owns it and it is open
-- (a closed lot has none left and holds none; a lot merged away is the survivor's), against the
-- account's entries on it and the allocations of the account's active holds.
select a.id as account_id, a.posted, a.reserved, a.debt,
       ledger.entries, ledger.lots, ledger.held, active.holds as active_holds,
       debt.recorded, ledger.lot_differences, refund.differences as refund_differences,
       unbalanced.differences as unbalanced_operations
from accounts a
cross join lateral (
    select coalesce(sum(x.entries), 0)::bigint as entries,
           coalesce(sum(x.remaining), 0)::bigint as lots,
           coalesce(sum(x.held), 0)::bigint as held,
           jsonb_agg(jsonb_build_object(
               'lot', x.lot_id, 'remaining', x.remaining, 'entries', x.entries,
               'held', x.held, 'allocated', x.allocated) order by x.lot_id)
               filter (where x.lot_id is not null
                       and (x.remaining <> x.entries or x.held <> x.allocated)) as lot_differences
    from (
        select coalesce(e.lot_id, l.id, h.lot_id) as lot_id,
               coalesce(e.entries, 0) as entries,
               coalesce(l.remaining, 0) as remaining,
               coalesce(l.held, 0) as held,
               coalesce(h.allocated, 0) as allocated
        from (select e.lot_id, sum(e.points) as entries from entries e
              where e.account_id = a.id group by e.lot_id) e
        full join (select l.id, l.remaining, l.held from lots l
                   where l.account_id = a.id and l.open) l on l.id = e.lot_id
        full join (select ha.lot_id, sum(ha.points) as allocated
                   from holds h join hold_allocations ha on ha.hold_id = h.id
                   where h.account_id = a.id and h.status = 'active'
                   group by ha.lot_id) h on h.lot_id = coalesce(e.lot_id, l.id)
    ) x
) ledger
cross join lateral (
    select coalesce(sum(h.points), 0)::bigint as holds from holds h
    where h.account_id = a.id and h.status = 'active'
) active
cross join lateral (
    select (coalesce((select sum(o.debt_delta) from operations o
                      where o.account_id = a.id and o.debt_delta <> 0), 0)
            - coalesce((select sum(m.debt_delta) from operations m
                        where m.merged_from = a.id and m.debt_delta <> 0), 0))::bigint as recorded
) debt
cross join lateral (
    select jsonb_agg(jsonb_build_object(
               'operation', o.id, 'refunded_points', o.refunded_points, 'refunds', r.refunds,
               'returned_points', o.returned_points, 'returns', r.returns) order by o.seq)
               as differences
    from operations o
    cross join lateral (
        select coalesce(sum(case when o.type = 'commit' then r.points
                                 else r.returned_points - r.points end), 0) as refunds,
               coalesce(sum(r.returned_points), 0) as returns
        from operations r where r.refund_of = o.id
    ) r
    where o.account_id = a.id and o.type in ('accrual', 'purchase', 'commit')
      and (o.refunded_points <> r.refunds or o.returned_points <> r.returns)
) refund
cross join lateral (
    select jsonb_agg(jsonb_build_object('operation', o.id, 'total', t.total) order by o.seq)
               as differences
    from operations o
    cross join lateral (
        select coalesce(sum(e.points), 0) as total from entries e where e.operation_id = o.id
    ) t
    where o.account_id = a.id and t.total <> 0
) unbalanced
where a.id = any($1::uuid[]) and a.kind = 'customer'
order by a.id;

-- name: live_check_record
-- The slice $1 was checked and the accounts $2 differ, by kinds $3: they are listed (or
-- stay listed, checked again now), and the slice's other accounts leave the list.
with cleared as (
    delete from live_check_differences
    where account_id = any($1::uuid[]) and account_id <> all($2::uuid[])
)
insert into live_check_differences as known (account_id, kinds)
select found.account_id, found.kinds from unnest($2::uuid[], $3::text[]) as found (account_id, kinds)
on conflict (account_id) do update
set kinds = excluded.kinds, checked_at = clock_timestamp();

-- name: live_check_known
-- How many accounts differ as far as the live check knows, for its gauge, and when it last
-- walked every account.
select (select count(*) from live_check_differences) as accounts_differing,
       (select walk_completed_at from live_check_walk where walk = 'accounts')
           as walk_completed_at;

-- name: live_check_report_cursor
-- The report rollups' walk (decision 0028): where it stands, its row locked for the claim.
select program_id, day from live_check_walk where walk = 'report_points' for update;

-- name: live_check_next_report_day
-- The first day after $2 (from the first, if null) on which program $1 has operations or
-- rollup rows, in the program's time zone: through operations_program_time from the next
-- day's first instant there, and the rollups' primary key.
with zone as (
    select time_zone from program_zones where program_id = $1
), from_operations as (
    select (o.created_at at time zone (select time_zone from zone))::date as day
    from operations o
    where o.program_id = $1
      and o.created_at >= coalesce(
          (select ($2::date + 1)::timestamp at time zone time_zone from zone), '-infinity')
    order by o.created_at
    limit 1
)
select least((select day from from_operations),
             (select min(r.day) from report_points r
              where r.program_id = $1 and r.day > coalesce($2::date, '-infinity'))) as day;

-- name: live_check_next_report_program
-- The program after $1 (the first, if null) in id order, for the walk to go on to.
select id from programs where id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
order by id limit 1;

-- name: live_check_move_report_cursor
-- The report walk now stands at program $1, day $2 (both null: back at the start).
update live_check_walk set
    program_id = $1, day = $2,
    walk_started_at = case when program_id is null then clock_timestamp() else walk_started_at end
where walk = 'report_points';

-- name: live_check_report_day_operations
-- How many operations program $1 wrote on day $2 in its time zone (from the index alone): a
-- day beyond live_check_report_day_operations_max is left to bonus reconcile.
select count(*) as operations from operations o
where o.program_id = $1
  and o.created_at >= (select $2::date::timestamp at time zone time_zone
                       from program_zones where program_id = $1)
  and o.created_at < (select ($2::date + 1)::timestamp at time zone time_zone
                      from program_zones where program_id = $1);

-- name: live_check_report_day
-- Program $1's rollups of day $2 against its ledger in one statement (one snapshot): the
-- operations of that day in the program's time zone through operations_program_time, each
-- one's customer-side entries through entries_operation, their lots and the lots' earning
-- operations by primary key (once each), and the outbox through outbox_operation_type to
-- leave out what the relay has not rolled up yet, as report_points_expected and
-- report_liability_expected define it over the whole ledger (migration 0036).
with zone as (
    select time_zone from program_zones where program_id = $1
), day_operations as materialized (
    select o.id, coalesce(o.store_id, '') as store_id, o.channel, o.type
    from operations o
    where o.program_id = $1
      and o.created_at >= (select $2::date::timestamp at time zone time_zone from zone)
      and o.created_at < (select ($2::date + 1)::timestamp at time zone time_zone from zone)
      and not exists (
          select 1 from outbox w
          where w.operation_id = o.id and w.relayed_at is null
            and w.id = (select min(x.id) from outbox x where x.operation_id = o.id))
), day_entries as materialized (
    -- Each customer-side entry of the day's operations once, with its lot's earning store and
    -- activation day: both comparisons below read it, so each entry, lot and earning
    -- operation is probed once.
    select e.operation_id, e.points, coalesce(earned.store_id, '') as lot_store_id,
           greatest($2::date, (l.activates_at at time zone (select time_zone from zone))::date)
               as lot_activates_on
    from day_operations d
    join entries e on e.operation_id = d.id and e.lot_id is not null
    join lots l on l.id = e.lot_id
    join operations earned on earned.id = l.operation_id
), changes as (
    select d.store_id, d.channel, d.type,
           coalesce(sum(e.points) filter (where e.points > 0), 0) as credited,
           coalesce(sum(e.points) filter (where e.points < 0), 0) as debited
    from day_operations d
    left join day_entries e on e.operation_id = d.id
    group by d.id, d.store_id, d.channel, d.type
), expected_points as (
    select store_id, channel, type, count(*) as operations, sum(credited) as credited,
           sum(debited) as debited
    from changes group by store_id, channel, type
), rolled_points as (
    select store_id, channel, type, operations, credited, debited
    from report_points where program_id = $1 and day = $2
), expected_liability as (
    select lot_store_id, lot_activates_on, sum(points) as points
    from day_entries group by lot_store_id, lot_activates_on
), rolled_liability as (
    select lot_store_id, lot_activates_on, points
    from report_liability where program_id = $1 and day = $2
)
select 'report_points' as kind,
       jsonb_build_object(
           'store_id', store_id, 'channel', channel, 'type', type,
           'operations', coalesce(r.operations, 0), 'ledger_operations', coalesce(e.operations, 0),
           'credited', coalesce(r.credited, 0), 'ledger_credited', coalesce(e.credited, 0),
           'debited', coalesce(r.debited, 0), 'ledger_debited', coalesce(e.debited, 0))::text
           as figures
from rolled_points r full join expected_points e using (store_id, channel, type)
where (coalesce(r.operations, 0), coalesce(r.credited, 0), coalesce(r.debited, 0))
      <> (coalesce(e.operations, 0), coalesce(e.credited, 0), coalesce(e.debited, 0))
union all
select 'report_liability',
       jsonb_build_object(
           'lot_store_id', lot_store_id, 'lot_activates_on', lot_activates_on,
           'points', coalesce(r.points, 0), 'ledger_points', coalesce(e.points, 0))::text
from rolled_liability r full join expected_liability e using (lot_store_id, lot_activates_on)
where coalesce(r.points, 0) <> coalesce(e.points, 0);

-- name: live_check_record_report_day
-- Program $1's day $2 was checked and its rollups differ by kinds $3 (null: they agree).
with cleared as (
    delete from live_check_report_differences
    where program_id = $1 and day = $2 and $3::text is null
)
insert into live_check_report_differences as known (program_id, day, kinds)
select $1, $2, $3 where $3::text is not null
on conflict (program_id, day) do update
set kinds = excluded.kinds, checked_at = clock_timestamp();

-- name: live_check_report_days_known
-- How many program days the live check knows to have rollups apart from the ledger.
select count(*) as days from live_check_report_differences;
