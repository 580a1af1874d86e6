-- name: report_purchase_sums
-- Program $1's purchase rollups from day $2 to day $3 (inclusive), per period $4 ('day',
-- 'week' or 'month', labelled by its first day) and per store ($5 = 'store'), per channel
-- ('channel') or neither. Money stays numeric: the service reads it as an exact integer.
select date_trunc($4, r.day::timestamp)::date as period,
       case when $5 = 'store' then r.store_id end as store_id,
       case when $5 = 'channel' then r.channel end as channel,
       sum(r.purchases)::bigint as purchases, sum(r.amount_minor) as amount_minor,
       sum(r.money_minor) as money_minor, sum(r.returns)::bigint as returns,
       sum(r.returned_money_minor) as returned_money_minor,
       sum(r.program_discount_minor) as program_discount_minor
from report_purchases r
where r.program_id = $1 and r.day between $2 and $3
group by 1, 2, 3
order by 1, 2, 3;

-- name: report_customer_counts
-- Distinct customers in each span: active, purchasing, purchasing at least twice. A span is
-- the whole days, weeks and months that cover it, without overlap ($2 the span of each piece,
-- $3 its grain, $4 its first day): a span of one piece reads the piece's counts, a longer one
-- counts the union of its pieces' bitmaps, chunk by chunk.
with pieces as (
    select p.n, p.grain, p.period, count(*) over (partition by p.n) as pieces
    from unnest($2::bigint[], $3::text[], $4::date[]) as p (n, grain, period)
), single as (
    select p.n, sum(c.active_customers) as active, sum(c.purchasing_customers) as purchased,
           sum(c.repeat_customers) as repeated
    from pieces p
    join report_customer_sets c
      on c.program_id = $1 and c.grain = p.grain and c.period = p.period
    where p.pieces = 1
    group by p.n
), chunks as (
    select p.n, bit_count(bit_or(c.active)) as active,
           bit_count(bit_or(c.purchased)) as purchased,
           bit_count(report_twice(c.purchased) | bit_or(c.repeated)::bit varying) as repeated
    from pieces p
    join report_customer_sets c
      on c.program_id = $1 and c.grain = p.grain and c.period = p.period
    where p.pieces > 1
    group by p.n, c.chunk
), counted as (
    select n, active, purchased, repeated from single
    union all
    select n, sum(active), sum(purchased), sum(repeated) from chunks group by n
)
select n, active::bigint, purchased::bigint, repeated::bigint from counted order by n;

-- name: report_member_days
-- Program $1's members joining and leaving, by day of the window $2 to $3 in its time zone,
-- and (day null) before the window. A customer joins on enrolment and leaves when merged into
-- another or erased, whichever came first; a merged or erased record still joined.
with zone as (
    select z.time_zone, ($2::date::timestamp at time zone z.time_zone) as starts,
           (($3::date + 1)::timestamp at time zone z.time_zone) as ends
    from program_zones z where z.program_id = $1
), gone as (
    select gone.customer_id, min(gone.at) as at
    from (select o.merged_from as customer_id, o.created_at as at
          from operations o, zone
          where o.program_id = $1 and o.type = 'merge' and o.created_at < zone.ends
          union all
          select c.id, c.erased_at
          from customers c, zone
          where c.program_id = $1 and c.erased_at is not null and c.erased_at < zone.ends
         ) as gone
    group by gone.customer_id
), joined as (
    -- Before the window a count over the index alone; within it, by day.
    select null::date as day, count(*) as joined, 0::bigint as left_
    from customers c, zone
    where c.program_id = $1 and c.created_at < zone.starts
    union all
    select (c.created_at at time zone zone.time_zone)::date, count(*), 0
    from customers c, zone
    where c.program_id = $1 and c.created_at >= zone.starts and c.created_at < zone.ends
    group by 1
), leaving as (
    select case when g.at >= zone.starts then (g.at at time zone zone.time_zone)::date end as day,
           0::bigint as joined, count(*) as left_
    from gone g, zone
    group by 1
)
select day, sum(joined)::bigint as joined, sum(left_)::bigint as left_
from (select * from joined union all select * from leaving) as moves
group by day
order by day nulls first;

-- name: report_member_tiers
-- Program $1's members at the end of day $2 (its time zone) by the tier the program last
-- announced for them (their newest tier.changed event by then); members with none are not
-- listed: the service counts them as without a tier.
with zone as (
    select (($2::date + 1)::timestamp at time zone z.time_zone) as ends
    from program_zones z where z.program_id = $1
), newest as (
    select distinct on (x.payload->>'customer_id')
           (x.payload->>'customer_id')::uuid as customer_id, x.payload->>'tier_after' as tier
    from outbox x, zone
    where x.program_id = $1 and x.type = 'tier.changed' and x.created_at < zone.ends
    order by x.payload->>'customer_id', x.created_at desc, x.id desc
)
select n.tier, count(*) as members
from newest n
join customers c on c.id = n.customer_id, zone
where n.tier is not null
  and not (c.erased_at is not null and c.erased_at < zone.ends)
  and not exists (select 1 from operations o
                  where o.program_id = $1 and o.type = 'merge' and o.merged_from = c.id
                    and o.created_at < zone.ends)
group by n.tier
order by n.tier;

-- name: report_tier_moves
-- Program $1's tier changes from day $2 to day $3 in its time zone (its tier.changed events),
-- by the tier before and after.
with zone as (
    select ($2::date::timestamp at time zone z.time_zone) as starts,
           (($3::date + 1)::timestamp at time zone z.time_zone) as ends
    from program_zones z where z.program_id = $1
)
select x.payload->>'tier_before' as tier_before, x.payload->>'tier_after' as tier_after,
       count(*) as customers
from outbox x, zone
where x.program_id = $1 and x.type = 'tier.changed'
  and x.created_at >= zone.starts and x.created_at < zone.ends
group by 1, 2
order by 3 desc, 1 nulls first, 2 nulls first;

-- name: lock_customer_reports
-- A rebuild's lock, as lock_report_rollups: the relay's roll-up waits until it commits.
lock table report_purchases, report_customer_numbers, report_customer_sets
in share row exclusive mode;

-- name: clear_customer_reports
-- $1 a program, or null for all of them.
with purchases as (
    delete from report_purchases where $1::uuid is null or program_id = $1
), sets as (
    delete from report_customer_sets where $1::uuid is null or program_id = $1
)
delete from report_customer_numbers where $1::uuid is null or program_id = $1;

-- name: rebuild_customer_reports
-- Every rolled-up operation of program $1 (null: all) added again, in the ledger's order.
select report_roll_up_customers_of($1::uuid) as operations;

-- name: reconcile_report_purchases
-- The purchase rollups against the ledger (decision 0027).
select program_id, day, store_id, channel,
       coalesce(r.purchases, 0) as purchases, coalesce(e.purchases, 0) as ledger_purchases,
       coalesce(r.money_minor, 0) as money_minor, coalesce(e.money_minor, 0) as ledger_money_minor,
       coalesce(r.amount_minor, 0) as amount_minor,
       coalesce(e.amount_minor, 0) as ledger_amount_minor,
       coalesce(r.returns, 0) as returns, coalesce(e.returns, 0) as ledger_returns,
       coalesce(r.returned_money_minor, 0) as returned_money_minor,
       coalesce(e.returned_money_minor, 0) as ledger_returned_money_minor,
       coalesce(r.program_discount_minor, 0) as program_discount_minor,
       coalesce(e.program_discount_minor, 0) as ledger_program_discount_minor
from report_purchases r
full join report_purchases_expected e using (program_id, day, store_id, channel)
where (coalesce(r.purchases, 0), coalesce(r.amount_minor, 0), coalesce(r.money_minor, 0),
       coalesce(r.returns, 0), coalesce(r.returned_money_minor, 0),
       coalesce(r.program_discount_minor, 0))
   <> (coalesce(e.purchases, 0), coalesce(e.amount_minor, 0), coalesce(e.money_minor, 0),
       coalesce(e.returns, 0), coalesce(e.returned_money_minor, 0),
       coalesce(e.program_discount_minor, 0));

-- name: reconcile_report_customer_sets
-- The customer sets against the ledger: per day or month and chunk, the customers each set
-- holds, counted and checked one by one against who the rolled-up operations name, and the
-- counts kept beside each bitmap against the bitmap.
with expected as (
    select e.program_id, e.grain, e.period, k.number / 65536 as chunk,
           count(*) as active, count(*) filter (where e.purchases > 0) as purchased,
           count(*) filter (where e.purchases > 1) as repeated,
           count(*) filter (
               where get_bit(s.active, k.number % 65536) = 1
                 and get_bit(s.purchased, k.number % 65536) = (e.purchases > 0)::integer
                 and get_bit(s.repeated, k.number % 65536) = (e.purchases > 1)::integer
           ) as matching
    from report_customer_periods_expected e
    left join report_customer_numbers k on k.customer_id = e.customer_id
    left join report_customer_sets s
      on s.program_id = e.program_id and s.grain = e.grain and s.period = e.period
     and s.chunk = k.number / 65536
    group by 1, 2, 3, 4
), stored as (
    select program_id, grain, period, chunk, bit_count(active) as active,
           bit_count(purchased) as purchased, bit_count(repeated) as repeated,
           (active_customers, purchasing_customers, repeat_customers)
           = (bit_count(active), bit_count(purchased), bit_count(repeated)) as counted
    from report_customer_sets
)
select program_id, grain, period, chunk,
       coalesce(s.active, 0) as active, coalesce(e.active, 0) as ledger_active,
       coalesce(s.purchased, 0) as purchased, coalesce(e.purchased, 0) as ledger_purchased,
       coalesce(s.repeated, 0) as repeated, coalesce(e.repeated, 0) as ledger_repeated
from stored s
full join expected e using (program_id, grain, period, chunk)
where (coalesce(s.active, 0), coalesce(s.purchased, 0), coalesce(s.repeated, 0))
      <> (coalesce(e.active, 0), coalesce(e.purchased, 0), coalesce(e.repeated, 0))
   or coalesce(e.matching, 0) <> coalesce(e.active, 0) or not coalesce(s.counted, true);

-- name: report_program_gauges
-- Per program, from the rollups: the points customers hold (the liability), and the customers
-- with an operation of their own in its last $1 days, today included, in its time zone.
with zones as (
    select z.program_id, (clock_timestamp() at time zone z.time_zone)::date as today
    from program_zones z
), active as (
    select c.program_id, c.chunk, bit_count(bit_or(c.active)) as active
    from report_customer_sets c
    join zones z on z.program_id = c.program_id
    where c.grain = 'day' and c.period > z.today - $1::integer and c.period <= z.today
    group by c.program_id, c.chunk
), held as (
    select program_id, sum(points) as points from report_liability group by program_id
)
select z.program_id, coalesce(h.points, 0)::bigint as outstanding_points,
       coalesce((select sum(a.active) from active a where a.program_id = z.program_id), 0)::bigint
           as active_customers
from zones z
left join held h on h.program_id = z.program_id;
