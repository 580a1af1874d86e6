-- Discount programs (decision 0036): the purchases report counts the discount the program gave.
-- A purchase's discount is on its stored lines (`program_discount_minor`, 0 on lines priced
-- before discounts existed), so no purchase row changes; the rollup gains the day's sum, and
-- the view it is rolled up and reconciled from reads it off the lines. Rows rolled up before
-- this hold 0, which is what their purchases gave.
alter table report_purchases
    add column program_discount_minor numeric not null default 0
        check (program_discount_minor >= 0);

create or replace view report_purchase_changes as
select o.id as operation_id, o.program_id,
       (o.created_at at time zone z.time_zone)::date as day,
       coalesce(o.store_id, '') as store_id, o.channel,
       (o.type = 'purchase')::integer as purchases,
       coalesce(p.amount_minor, 0) as amount_minor,
       coalesce(p.money_minor, 0) as money_minor,
       (o.type = 'refund')::integer as returns,
       coalesce((select sum(r.money_minor) from purchase_returns r where r.operation_id = o.id),
                0) as returned_money_minor,
       coalesce((select sum((l.line ->> 'program_discount_minor')::bigint)
                 from jsonb_array_elements(p.lines) as l (line)), 0) as program_discount_minor
from operations o
join program_zones z on z.program_id = o.program_id
left join purchases p on p.operation_id = o.id
where o.type = 'purchase'
   or (o.type = 'refund' and exists (select 1 from purchases b where b.operation_id = o.refund_of));

create or replace view report_purchases_expected as
select c.program_id, c.day, c.store_id, c.channel, sum(c.purchases) as purchases,
       sum(c.amount_minor) as amount_minor, sum(c.money_minor) as money_minor,
       sum(c.returns) as returns, sum(c.returned_money_minor) as returned_money_minor,
       sum(c.program_discount_minor) as program_discount_minor
from report_purchase_changes c
where not exists (select 1 from report_unrolled_operations u where u.operation_id = c.operation_id)
group by c.program_id, c.day, c.store_id, c.channel;

-- As in 0038, the purchase rollups now adding the discount too; the customer sets unchanged.
create or replace function report_roll_up_customers(operation_ids uuid[]) returns bigint
language plpgsql as $$
begin
    insert into report_purchases as r
        (program_id, day, store_id, channel, purchases, amount_minor, money_minor, returns,
         returned_money_minor, program_discount_minor)
    select c.program_id, c.day, c.store_id, c.channel, sum(c.purchases), sum(c.amount_minor),
           sum(c.money_minor), sum(c.returns), sum(c.returned_money_minor),
           sum(c.program_discount_minor)
    from report_purchase_changes c
    where c.operation_id = any (operation_ids)
    group by c.program_id, c.day, c.store_id, c.channel
    order by c.program_id, c.day, c.store_id, c.channel
    on conflict on constraint report_purchases_pkey do update
    set purchases = r.purchases + excluded.purchases,
        amount_minor = r.amount_minor + excluded.amount_minor,
        money_minor = r.money_minor + excluded.money_minor,
        returns = r.returns + excluded.returns,
        returned_money_minor = r.returned_money_minor + excluded.returned_money_minor,
        program_discount_minor = r.program_discount_minor + excluded.program_discount_minor;

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
