-- name: report_points
-- Program $1's rollups from day $2 to day $3 (inclusive), per period $4 ('day', 'week' or
-- 'month', labelled by its first day), per store ($5 = 'store'), per channel ('channel') or
-- neither, and per operation type: the service folds the types into the report's figures.
select date_trunc($4, r.day::timestamp)::date as period,
       case when $5 = 'store' then nullif(r.store_id, '') end as store_id,
       case when $5 = 'channel' then r.channel end as channel,
       r.type, sum(r.operations)::bigint as operations, sum(r.credited)::bigint as credited,
       sum(r.debited)::bigint as debited
from report_points r
where r.program_id = $1 and r.day between $2 and $3
group by 1, 2, 3, 4
order by 1, 2, 3, 4;

-- name: report_liability
-- Program $1's points outstanding at the end of day $2 (its time zone), by the store where
-- they were earned, with the part whose lots activate after that day (pending).
select r.lot_store_id, sum(r.points)::bigint as outstanding,
       coalesce(sum(r.points) filter (where r.lot_activates_on > $2), 0)::bigint as pending
from report_liability r
where r.program_id = $1 and r.day <= $2
group by r.lot_store_id
order by r.lot_store_id;

-- name: report_clock
-- Program $1's today in its time zone, and the moment before which every operation is in the
-- rollups (the oldest event the relay has not reached; now when there is none); no row when
-- there is no such program, or it is not $2's (a program's key; null: an operator's).
select (clock_timestamp() at time zone z.time_zone)::date as today,
       coalesce((select o.created_at from outbox o where o.relayed_at is null
                 order by o.id limit 1), clock_timestamp()) as complete_before
from program_zones z
where z.program_id = $1 and ($2::uuid is null or z.program_id = $2);

-- name: lock_report_rollups
-- A rebuild's lock: the relay's roll-up (row exclusive) waits until the rebuild commits, and
-- two rebuilds take turns. Whatever the relay marked before the lock is in the ledger the
-- rebuild reads; whatever it marks after, it adds after.
lock table report_points, report_liability in share row exclusive mode;

-- name: clear_report_rollups
-- $1 a program, or null for all of them.
with points as (
    delete from report_points where $1::uuid is null or program_id = $1
)
delete from report_liability where $1::uuid is null or program_id = $1;

-- name: rebuild_report_points
insert into report_points
select * from report_points_expected where $1::uuid is null or program_id = $1;

-- name: rebuild_report_liability
insert into report_liability
select * from report_liability_expected
where ($1::uuid is null or program_id = $1) and points <> 0;

-- name: analyze_report_rollups
-- After a rebuild the planner must know the rollups' size: left to autovacuum, it took a year's
-- 45,000 rows for an empty table and chose a plan three times slower (loadtests/RESULTS.md).
analyze report_points, report_liability, report_purchases, report_customer_sets;
