-- Report rollups (decision 0025): what the ledger moved, summed by day, so that a year's report
-- reads a few thousand rows instead of millions of operations. An operation is rolled up once:
-- by the outbox relay in the statement that marks its first event relayed, or, for an opening
-- balance (which has no event), by the import batch that writes it. `bonus reports rebuild`
-- recomputes both tables from the ledger and `bonus reconcile` compares them with it.
--
-- A day is the operation's date in the program's time zone (its messaging settings, Moscow by
-- default); a report asked for "as of" a day counts everything before the next day's first
-- instant there.

-- The time zone each program's days are counted in.
create view program_zones as
select p.id as program_id, coalesce(s.time_zone, 'Europe/Moscow') as time_zone
from programs p left join message_settings s on s.program_id = p.id;

-- Per day, store and channel where operations happened, and operation type: how many, and what
-- they credited to and debited from customers' accounts (the customer side of their entries,
-- each against one of their lots). The store is '' for an operation with none.
create table report_points (
    program_id uuid not null references programs (id),
    day date not null,
    store_id text not null,
    channel text not null,
    type text not null,
    operations bigint not null check (operations > 0),
    credited bigint not null check (credited >= 0),
    debited bigint not null check (debited <= 0),
    primary key (program_id, day, store_id, channel, type)
);

-- Per day, the change of the points customers hold (the liability), by the store where the
-- points were earned (the store of the operation that made the lot, '' for none) and the day
-- the lot activates (the operation's own day when the lot was active by then): the points
-- outstanding on a day are the sum up to it, and those still pending the part whose lots
-- activate after it.
create table report_liability (
    program_id uuid not null references programs (id),
    day date not null,
    lot_store_id text not null,
    lot_activates_on date not null check (lot_activates_on >= day),
    points bigint not null,
    primary key (program_id, day, lot_store_id, lot_activates_on)
);

-- One row per operation: when and where it happened and what it moved on customers' accounts.
create view report_operation_changes as
select o.id as operation_id, o.program_id,
       (o.created_at at time zone z.time_zone)::date as day,
       coalesce(o.store_id, '') as store_id, o.channel, o.type,
       coalesce(sum(e.points) filter (where e.points > 0), 0) as credited,
       coalesce(sum(e.points) filter (where e.points < 0), 0) as debited
from operations o
join program_zones z on z.program_id = o.program_id
left join entries e on e.operation_id = o.id and e.lot_id is not null
group by o.id, z.time_zone;

-- One row per customer-side entry: the day it moved a lot, and where and when that lot was
-- earned and activates.
create view report_lot_changes as
select e.operation_id, o.program_id, changed.day,
       coalesce(earned.store_id, '') as lot_store_id,
       greatest(changed.day, (l.activates_at at time zone z.time_zone)::date) as lot_activates_on,
       e.points
from entries e
join operations o on o.id = e.operation_id
join program_zones z on z.program_id = o.program_id
join lots l on l.id = e.lot_id
join operations earned on earned.id = l.operation_id
cross join lateral (select (o.created_at at time zone z.time_zone)::date as day) as changed;

-- The operations not rolled up yet: their first outbox event still waits for the relay.
create view report_unrolled_operations as
select waiting.operation_id
from outbox waiting
where waiting.relayed_at is null and waiting.operation_id is not null
  and waiting.id = (select min(x.id) from outbox x where x.operation_id = waiting.operation_id);

-- What the rollups hold when they agree with the ledger: every rolled-up operation summed.
create view report_points_expected as
select c.program_id, c.day, c.store_id, c.channel, c.type, count(*) as operations,
       sum(c.credited) as credited, sum(c.debited) as debited
from report_operation_changes c
where not exists (select 1 from report_unrolled_operations u where u.operation_id = c.operation_id)
group by c.program_id, c.day, c.store_id, c.channel, c.type;

create view report_liability_expected as
select c.program_id, c.day, c.lot_store_id, c.lot_activates_on, sum(c.points) as points
from report_lot_changes c
where not exists (select 1 from report_unrolled_operations u where u.operation_id = c.operation_id)
group by c.program_id, c.day, c.lot_store_id, c.lot_activates_on;

-- Adds the given operations to the rollups; the caller makes sure each is added once (the
-- relay's mark on its first event, the import batch's record). Keys are written in order, so
-- two relays adding to the same days wait for each other instead of deadlocking.
create function report_roll_up(operation_ids uuid[]) returns bigint language sql as $$
    insert into report_points as r
        (program_id, day, store_id, channel, type, operations, credited, debited)
    select program_id, day, store_id, channel, type, count(*), sum(credited), sum(debited)
    from report_operation_changes
    where operation_id = any (operation_ids)
    group by program_id, day, store_id, channel, type
    order by program_id, day, store_id, channel, type
    on conflict (program_id, day, store_id, channel, type) do update
    set operations = r.operations + excluded.operations,
        credited = r.credited + excluded.credited,
        debited = r.debited + excluded.debited;

    insert into report_liability as r (program_id, day, lot_store_id, lot_activates_on, points)
    select program_id, day, lot_store_id, lot_activates_on, sum(points)
    from report_lot_changes
    where operation_id = any (operation_ids)
    group by program_id, day, lot_store_id, lot_activates_on
    order by program_id, day, lot_store_id, lot_activates_on
    on conflict (program_id, day, lot_store_id, lot_activates_on) do update
    set points = r.points + excluded.points;

    select cardinality(operation_ids)::bigint;
$$;

-- The ledger so far, rolled up (a later rebuild does the same).
insert into report_points select * from report_points_expected;
insert into report_liability select * from report_liability_expected;
