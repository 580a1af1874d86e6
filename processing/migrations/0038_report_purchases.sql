-- Purchase and member report rollups (decision 0027), kept beside the points rollups of
-- decision 0025 and the same way: an operation goes in once, when the relay marks its first
-- outbox event relayed; `bonus reports rebuild` recomputes them from the ledger and
-- `bonus reconcile` compares them with it. Days are the program's (program_zones).

-- Per day, store and channel: purchases (how many, the receipts' total, the money paid) and
-- returns of purchases (how many return operations, the money they gave back). Money sums are
-- numeric: a sum of bigints can pass a bigint.
create table report_purchases (
    program_id uuid not null references programs (id),
    day date not null,
    store_id text not null,
    channel text not null,
    purchases bigint not null check (purchases >= 0),
    amount_minor numeric not null check (amount_minor >= 0),
    money_minor numeric not null check (money_minor >= 0),
    returns bigint not null check (returns >= 0),
    returned_money_minor numeric not null check (returned_money_minor >= 0),
    primary key (program_id, day, store_id, channel)
);

-- Customers counted once however many operations they made (active, purchasing, purchasing
-- twice) cannot be summed from daily counts. Each customer of a program gets a number, in the
-- order the relay first meets them; a set of customers is a bitmap of those numbers, cut in
-- chunks of 65,536 (8 KiB), so a batch rewrites only the chunks its customers are in. A
-- window's distinct count is the population count of the union of the bitmaps of the fewest
-- whole months, weeks and days that cover it; a period that is one of them reads its counts.
create table report_customer_numbers (
    program_id uuid not null references programs (id),
    customer_id uuid primary key references accounts (id),
    number integer not null check (number >= 0),
    unique (program_id, number)
);

-- Per day, ISO week and month: customers with an operation of their own (not an expiry, a
-- merge or an import), with a purchase, and with a second purchase in that period, and how
-- many of each. A customer is the account that made the operation: a merge does not move old
-- operations (decision 0019).
create table report_customer_sets (
    program_id uuid not null references programs (id),
    grain text not null check (grain in ('day', 'week', 'month')),
    period date not null check (
        grain = 'day' or (grain = 'week' and extract(isodow from period) = 1)
        or (grain = 'month' and extract(day from period) = 1)
    ),
    chunk integer not null check (chunk >= 0),
    active bit(65536) not null,
    purchased bit(65536) not null,
    repeated bit(65536) not null,
    active_customers integer not null check (active_customers >= 0),
    purchasing_customers integer not null check (purchasing_customers >= 0),
    repeat_customers integer not null check (repeat_customers >= 0),
    primary key (program_id, grain, period, chunk)
);

-- Members leave the count when merged into another or erased; a tier's changes are its
-- tier.changed events. Indexes for the members report.
create index operations_merges on operations (program_id, created_at) where type = 'merge';
create index customers_erased on customers (program_id, erased_at) where erased_at is not null;
create index outbox_tier_changes on outbox (program_id, created_at) where type = 'tier.changed';

-- One row per purchase or return of a purchase: when and where, and its money.
create view report_purchase_changes as
select o.id as operation_id, o.program_id,
       (o.created_at at time zone z.time_zone)::date as day,
       coalesce(o.store_id, '') as store_id, o.channel,
       (o.type = 'purchase')::integer as purchases,
       coalesce(p.amount_minor, 0) as amount_minor,
       coalesce(p.money_minor, 0) as money_minor,
       (o.type = 'refund')::integer as returns,
       coalesce((select sum(r.money_minor) from purchase_returns r where r.operation_id = o.id),
                0) as returned_money_minor
from operations o
join program_zones z on z.program_id = o.program_id
left join purchases p on p.operation_id = o.id
where o.type = 'purchase'
   or (o.type = 'refund' and exists (select 1 from purchases b where b.operation_id = o.refund_of));

-- One row per operation a customer made: who, which day, and whether it was a purchase.
create view report_customer_changes as
select o.id as operation_id, o.program_id, o.account_id as customer_id,
       (o.created_at at time zone z.time_zone)::date as day,
       (o.type = 'purchase')::integer as purchases
from operations o
join program_zones z on z.program_id = o.program_id
where o.type not in ('expire', 'merge', 'opening');

create view report_purchases_expected as
select c.program_id, c.day, c.store_id, c.channel, sum(c.purchases) as purchases,
       sum(c.amount_minor) as amount_minor, sum(c.money_minor) as money_minor,
       sum(c.returns) as returns, sum(c.returned_money_minor) as returned_money_minor
from report_purchase_changes c
where not exists (select 1 from report_unrolled_operations u where u.operation_id = c.operation_id)
group by c.program_id, c.day, c.store_id, c.channel;

-- Per customer, day, week and month: what the customer sets should hold.
create view report_customer_periods_expected as
select c.program_id, g.grain, g.period, c.customer_id,
       sum(c.purchases) as purchases
from report_customer_changes c
cross join lateral (values ('day', c.day),
                           ('week', date_trunc('week', c.day::timestamp)::date),
                           ('month', date_trunc('month', c.day::timestamp)::date))
    as g (grain, period)
where not exists (select 1 from report_unrolled_operations u where u.operation_id = c.operation_id)
group by c.program_id, g.grain, g.period, c.customer_id;

-- Customers counted twice over a union of sets: the second of two stages' bitmaps.
create function report_twice_step(state bit varying[], next bit varying)
returns bit varying[] language sql immutable as $$
    select case when state is null then array[next, next & ~next]
                else array[state[1] | next, state[2] | (state[1] & next)] end;
$$;
create function report_twice_final(state bit varying[]) returns bit varying
language sql immutable as $$ select state[2]; $$;
-- The customers in at least two of the aggregated bitmaps.
create aggregate report_twice(bit varying) (
    sfunc = report_twice_step, stype = bit varying[], finalfunc = report_twice_final
);

-- A bitmap of 65,536 bits from the hexadecimal digits of its first bytes.
create function report_bits(hex text, last_byte integer) returns bit(65536)
language sql immutable as $$
    select ('x' || hex || repeat('00', 8191 - last_byte))::bit(65536);
$$;

-- The customer sets the given operations make, per program, day, week or month, and chunk:
-- set-based, a bitmap built from the bytes its members fall in (a byte's bits OR-ed, the gaps
-- between bytes zeros).
create function report_customer_bitmaps(operation_ids uuid[])
returns table (program_id uuid, grain text, period date, chunk integer, active bit(65536),
               purchased bit(65536), repeated bit(65536))
language sql stable as $$
    with members as (
        select c.program_id, g.grain, g.period, k.number, sum(c.purchases) as purchases
        from report_customer_changes c
        join report_customer_numbers k on k.customer_id = c.customer_id
        cross join lateral (values ('day', c.day),
                                   ('week', date_trunc('week', c.day::timestamp)::date),
                                   ('month', date_trunc('month', c.day::timestamp)::date))
            as g (grain, period)
        where c.operation_id = any (operation_ids)
        group by 1, 2, 3, 4
    ), bytes as (
        select m.program_id, m.grain, m.period, m.number / 65536 as chunk,
               m.number % 65536 / 8 as byte,
               bit_or(128 >> (m.number % 8)) as active,
               coalesce(bit_or(128 >> (m.number % 8)) filter (where m.purchases > 0), 0)
                   as purchased,
               coalesce(bit_or(128 >> (m.number % 8)) filter (where m.purchases > 1), 0)
                   as repeated
        from members m
        group by 1, 2, 3, 4, 5
    ), gaps as (
        select b.*, b.byte - coalesce(lag(b.byte) over keyed, -1) - 1 as gap
        from bytes b
        window keyed as (partition by b.program_id, b.grain, b.period, b.chunk order by b.byte)
    )
    select g.program_id, g.grain, g.period, g.chunk,
           report_bits(string_agg(repeat('00', g.gap) || lpad(to_hex(g.active), 2, '0'), ''
                                  order by g.byte), max(g.byte)),
           report_bits(string_agg(repeat('00', g.gap) || lpad(to_hex(g.purchased), 2, '0'), ''
                                  order by g.byte), max(g.byte)),
           report_bits(string_agg(repeat('00', g.gap) || lpad(to_hex(g.repeated), 2, '0'), ''
                                  order by g.byte), max(g.byte))
    from gaps g
    group by g.program_id, g.grain, g.period, g.chunk;
$$;

-- Adds the given operations to the purchase rollups and the customer sets; the caller makes
-- sure each is added once (the relay's mark on its first event). New customers are numbered
-- under a lock per program; a set takes the union of its bitmaps, and a customer who bought
-- in the set before and buys again joins its "twice". Keys are written in order, so two
-- relays wait for each other instead of deadlocking.
create function report_roll_up_customers(operation_ids uuid[]) returns bigint
language plpgsql as $$
begin
    insert into report_purchases as r
        (program_id, day, store_id, channel, purchases, amount_minor, money_minor, returns,
         returned_money_minor)
    select c.program_id, c.day, c.store_id, c.channel, sum(c.purchases), sum(c.amount_minor),
           sum(c.money_minor), sum(c.returns), sum(c.returned_money_minor)
    from report_purchase_changes c
    where c.operation_id = any (operation_ids)
    group by c.program_id, c.day, c.store_id, c.channel
    order by c.program_id, c.day, c.store_id, c.channel
    on conflict on constraint report_purchases_pkey do update
    set purchases = r.purchases + excluded.purchases,
        amount_minor = r.amount_minor + excluded.amount_minor,
        money_minor = r.money_minor + excluded.money_minor,
        returns = r.returns + excluded.returns,
        returned_money_minor = r.returned_money_minor + excluded.returned_money_minor;

    perform pg_advisory_xact_lock(hashtextextended('report_customer_numbers ' || p.id, 0))
    from (select distinct o.program_id::text as id from operations o
          where o.id = any (operation_ids) order by 1) as p;

    insert into report_customer_numbers (program_id, customer_id, number)
    select fresh.program_id, fresh.customer_id,
           coalesce((select max(k.number) + 1 from report_customer_numbers k
                     where k.program_id = fresh.program_id), 0)
           + row_number() over (partition by fresh.program_id order by fresh.first_seq,
                                                                     fresh.customer_id) - 1
    from (select c.program_id, c.customer_id, min(o.seq) as first_seq
          from report_customer_changes c
          join operations o on o.id = c.operation_id
          where c.operation_id = any (operation_ids)
            and not exists (select 1 from report_customer_numbers k
                            where k.customer_id = c.customer_id)
          group by c.program_id, c.customer_id) as fresh;

    insert into report_customer_sets as s
        (program_id, grain, period, chunk, active, purchased, repeated, active_customers,
         purchasing_customers, repeat_customers)
    select b.program_id, b.grain, b.period, b.chunk, b.active, b.purchased, b.repeated,
           bit_count(b.active), bit_count(b.purchased), bit_count(b.repeated)
    from report_customer_bitmaps(operation_ids) b
    order by b.program_id, b.grain, b.period, b.chunk
    on conflict on constraint report_customer_sets_pkey do update
    set active = s.active | excluded.active,
        purchased = s.purchased | excluded.purchased,
        repeated = s.repeated | excluded.repeated | (s.purchased & excluded.purchased),
        active_customers = bit_count(s.active | excluded.active),
        purchasing_customers = bit_count(s.purchased | excluded.purchased),
        repeat_customers = bit_count(s.repeated | excluded.repeated
                                     | (s.purchased & excluded.purchased));
    return cardinality(operation_ids);
end;
$$;

-- Adds every rolled-up operation of one program (null: all), in the ledger's order, a batch
-- at a time: what a rebuild does after clearing the rows.
create function report_roll_up_customers_of(program uuid) returns bigint
language plpgsql as $$
declare
    batch uuid[];
    after_seq bigint := 0;
    last_seq bigint;
    added bigint := 0;
begin
    loop
        select array_agg(picked.id order by picked.seq), max(picked.seq)
        into batch, last_seq
        from (select o.id, o.seq from operations o
              where o.seq > after_seq and (program is null or o.program_id = program)
                and not exists (select 1 from report_unrolled_operations u
                                where u.operation_id = o.id)
              order by o.seq
              limit 50000) as picked;
        exit when last_seq is null;
        added := added + report_roll_up_customers(batch);
        after_seq := last_seq;
    end loop;
    return added;
end;
$$;

-- The ledger so far, rolled up (a later rebuild does the same).
select report_roll_up_customers_of(null);
