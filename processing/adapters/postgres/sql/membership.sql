-- name: insert_membership_level
-- Membership level $7 of program $8 ($9 name, $10 price, $11 currency, $12 period, $13 grace
-- days, $14 earning rate, $15 its mode, $16 discount, $17 free delivery, $18 cancellation rule,
-- $19 key, $20 made at) with the answer ($1-$6) in one statement; a name the program has
-- already fails it on membership_levels_program_id_name_key.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
)
insert into membership_levels (id, program_id, name, price_minor, currency, period, grace_days,
                               earn_bp, earn_mode, discount_bp, free_delivery, cancellation,
                               key_id, created_at)
select $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20
from answer
returning id;

-- name: membership_levels
-- Program $1's membership levels, oldest first (a program has at most a few dozen).
select id, program_id, name, price_minor, currency, period, grace_days, earn_bp, earn_mode,
       discount_bp, free_delivery, cancellation, created_at
from membership_levels where program_id = $1
order by created_at, id;

-- name: membership_facts
-- What a membership operation of customer $1 in program $2 is decided on: the database clock,
-- whether the customer is the program's, the program's currency and its number of levels,
-- level $3 (a purchase's), the customer's membership in force (active or in grace as last
-- written; a customer merged into them counts as theirs) with its level and the money its
-- current period was paid with, and whether document $4 already paid for an operation of
-- type $5.
select clock_timestamp() as now,
       exists (select from customers c where c.id = $1 and c.program_id = $2) as customer_found,
       (select p.currency from programs p where p.id = $2) as currency,
       (select count(*) from membership_levels l where l.program_id = $2) as levels,
       (select row_to_json(l)::text from membership_levels l
        where l.id = $3 and l.program_id = $2) as level,
       (select json_build_object(
                   'id', m.id, 'customer_id', m.customer_id, 'anchor_at', m.anchor_at,
                   'periods', m.periods, 'version', m.version, 'status', m.status,
                   'level', (select row_to_json(l) from membership_levels l
                             where l.id = m.level_id),
                   'paid_minor', (select y.amount_minor from membership_payments y
                                  where y.membership_id = m.id and y.type <> 'refund'
                                  order by y.period_ends_at desc limit 1))::text
        from memberships m
        where m.program_id = $2 and m.status in ('active', 'grace')
          and (m.customer_id = $1 or m.customer_id in (select d.id from customers d
                                                       where d.merged_into = $1))
        order by m.grace_ends_at desc, m.id limit 1) as membership,
       exists (select from membership_payments y
               where y.program_id = $2 and y.type = $5 and y.document_id = $4) as document_taken;

-- name: start_membership
-- Membership $7 of customer $8 in program $9 at level $10 from $11 ($12 periods, $13 its end,
-- $14 its grace's end, $15 made at), its purchase payment ($16 id, $17 amount, $18 currency,
-- $19 channel, $20 store, $21 document, $22 key) and its outbox event ($23 payload) with the
-- answer ($1-$6) in one statement. A membership in force meanwhile fails it on
-- memberships_in_force, a document used meanwhile on membership_payments_program_id_type_...
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
), started as (
    insert into memberships (id, program_id, customer_id, level_id, anchor_at, periods, ends_at,
                             grace_ends_at, status, created_at)
    select $7, $9, $8, $10, $11, $12, $13, $14, 'active', $15 from answer
    returning id
), paid as (
    insert into membership_payments (id, program_id, membership_id, type, amount_minor, currency,
                                     period_starts_at, period_ends_at, channel, store_id,
                                     document_id, key_id, created_at)
    select $16, $9, started.id, 'purchase', $17, $18, $11, $13, $19, $20, $21, $22, $15
    from started
), told as (
    insert into outbox (program_id, operation_id, type, payload)
    select $9, null, 'membership.started', $23::jsonb from started
)
select id from started;

-- name: change_membership
-- Membership $7 of program $8 at version $9 renewed or cancelled: $10 periods, $11 its end,
-- $12 its grace's end, $13 status, $14 cancelled at, $15 refund; its payment ($16 id, $17 type,
-- $18 amount, $19 currency, $20-$21 the period it pays or refunds, $22 channel, $23 store,
-- $24 document, $25 key, $26 at) and its outbox event ($27 type, $28 payload), with the answer
-- ($1-$6), under the membership's row lock and only at the version it was decided on: nothing
-- when another change came first (decided again, it sees it).
with membership as (
    select id from memberships
    where id = $7 and program_id = $8 and version = $9 and status in ('active', 'grace')
    for update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from membership on conflict do nothing
    returning key_id
), changed as (
    update memberships m
    set periods = $10, ends_at = $11, grace_ends_at = $12, status = $13, cancelled_at = $14,
        refund_minor = $15, version = m.version + 1
    from answer
    where m.id = $7
    returning m.id
), paid as (
    insert into membership_payments (id, program_id, membership_id, type, amount_minor, currency,
                                     period_starts_at, period_ends_at, channel, store_id,
                                     document_id, key_id, created_at)
    select $16, $8, changed.id, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26
    from changed
), told as (
    insert into outbox (program_id, operation_id, type, payload)
    select $8, null, $27, $28::jsonb from changed
)
select id from changed;

-- name: customer_membership
-- Customer $1's newest membership in program $2 (in force, lapsed or cancelled), theirs or of
-- a customer merged into them, with its level, as JSON for the core's Membership.
select json_build_object(
           'id', m.id, 'customer_id', m.customer_id, 'anchor_at', m.anchor_at,
           'periods', m.periods, 'version', m.version, 'status', m.status,
           'cancelled_at', m.cancelled_at, 'refund_minor', m.refund_minor,
           'level', (select row_to_json(l) from membership_levels l where l.id = m.level_id)
       )::text as membership
from memberships m
where m.program_id = $2
  and (m.customer_id = $1 or m.customer_id in (select d.id from customers d
                                               where d.merged_into = $1))
order by m.created_at desc, m.id desc
limit 1;

-- name: sweep_memberships
-- The sweep: up to $2 memberships whose period ended by $1 enter grace (membership.lapsing)
-- and up to $2 whose grace ended lapse (membership.lapsed), each under its row lock taken with
-- skip locked and rechecked on its status, so two sweeps at once move and tell each once. A
-- membership found past its grace tells only membership.lapsed. $3 narrows it to one customer
-- (a purchase that finds the customer's membership past its grace closes it first).
with lapsed as (
    select id from memberships
    where status in ('active', 'grace') and grace_ends_at <= $1
      and ($3::uuid is null or customer_id = $3)
    order by grace_ends_at
    limit $2
    for update skip locked
), closed as (
    update memberships m set status = 'lapsed', version = m.version + 1
    from lapsed where m.id = lapsed.id
    returning m.id, m.program_id, m.customer_id, m.level_id, m.ends_at, m.grace_ends_at
), lapsing as (
    select id from memberships
    where status = 'active' and ends_at <= $1 and grace_ends_at > $1
      and ($3::uuid is null or customer_id = $3)
    order by ends_at
    limit $2
    for update skip locked
), graced as (
    update memberships m set status = 'grace', version = m.version + 1
    from lapsing where m.id = lapsing.id
    returning m.id, m.program_id, m.customer_id, m.level_id, m.ends_at, m.grace_ends_at
), moved as (
    select 'membership.lapsed' as type, closed.* from closed
    union all
    select 'membership.lapsing', graced.* from graced
), told as (
    insert into outbox (program_id, operation_id, type, payload)
    select program_id, null, type,
           jsonb_build_object('membership_id', id, 'customer_id', customer_id,
                              'level_id', level_id, 'ends_at', ends_at,
                              'grace_ends_at', grace_ends_at)
    from moved
)
select type, count(*) as count from moved group by type;

-- name: reconcile_membership_payments
-- Memberships whose money does not add up (decision 0035): each is paid once per period of its
-- chain (its purchase and renewals), has one refund exactly when cancelled, and never gives
-- back more than it was paid.
select m.id, m.periods, p.paid, p.refunds, coalesce(m.refund_minor, 0) as refund_minor,
       p.paid_minor
from memberships m
cross join lateral (
    select count(*) filter (where y.type <> 'refund') as paid,
           count(*) filter (where y.type = 'refund') as refunds,
           coalesce(sum(y.amount_minor) filter (where y.type <> 'refund'), 0) as paid_minor
    from membership_payments y where y.membership_id = m.id
) p
where m.periods <> p.paid or (m.status = 'cancelled') <> (p.refunds = 1) or p.refunds > 1
   or coalesce(m.refund_minor, 0) > p.paid_minor;
