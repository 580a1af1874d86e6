-- name: insert_promoter
-- Promoter $7 of program $8 ($9 its customer record, which must be the program's; $10 name, $11
-- code, $12 fixed reward, $13 share in basis points, $14 the key, $15 when) with the answer
-- ($1-$6) in one statement: nothing when the key already has an answer, or the customer is not
-- the program's. A code taken meanwhile fails on its unique key.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6
    where exists (select from customers c where c.id = $9 and c.program_id = $8
                  and c.merged_into is null)
    on conflict do nothing
    returning key_id
)
insert into promoters (id, program_id, customer_id, name, code, reward_points, reward_share_bp,
                       key_id, created_at)
select $7, $8, $9, $10, $11, $12, $13, $14, $15 from answer
returning id;

-- name: promoter_facts
-- What making a promoter of program $1 decides on: whether customer $2 is the program's, and
-- whether code $3 is taken, and the program's enrollment page slug (the link's page).
select exists (select from customers c where c.id = $2 and c.program_id = $1
               and c.merged_into is null) as customer_found,
       exists (select from promoters p where p.program_id = $1 and p.code = $3) as code_taken,
       (select e.slug from enrollment_pages e where e.program_id = $1) as slug,
       clock_timestamp() as now;

-- name: get_promoter
-- Promoter $1 of program $2, with the program's enrollment page slug (its link's page) and
-- what it brought: customers attributed, rewards paid and not clawed back, their points.
select p.id, p.program_id, p.customer_id, p.name, p.code, p.reward_points, p.reward_share_bp,
       p.created_at, e.slug,
       (select count(*) from customers c where c.promoter_id = p.id) as customers,
       (select count(*) from promoter_rewards r
        where r.promoter_id = p.id and r.clawback_operation_id is null) as rewards,
       (select coalesce(sum(r.points), 0) from promoter_rewards r
        where r.promoter_id = p.id and r.clawback_operation_id is null)::bigint as rewarded_points
from promoters p
left join enrollment_pages e on e.program_id = p.program_id
where p.id = $1 and p.program_id = $2;

-- name: list_promoters
-- Program $1's promoters older than ($2, $3), newest first, at most $4, as get_promoter reads.
select p.id, p.program_id, p.customer_id, p.name, p.code, p.reward_points, p.reward_share_bp,
       p.created_at, e.slug,
       (select count(*) from customers c where c.promoter_id = p.id) as customers,
       (select count(*) from promoter_rewards r
        where r.promoter_id = p.id and r.clawback_operation_id is null) as rewards,
       (select coalesce(sum(r.points), 0) from promoter_rewards r
        where r.promoter_id = p.id and r.clawback_operation_id is null)::bigint as rewarded_points
from promoters p
left join enrollment_pages e on e.program_id = p.program_id
where p.program_id = $1 and (p.created_at, p.id) < ($2, $3)
order by p.created_at desc, p.id desc
limit $4;

-- name: attribute_to_promoter
-- Customer $1 of program $2, not attributed yet and yet to purchase, made the customer of the
-- promoter with code $3 (a CRM lead's or a shop order's code); the promoter's own customer
-- record is never its own.
update customers c set promoter_id = p.id
from promoters p
where c.id = $1 and c.program_id = $2 and c.promoter_id is null
  and p.program_id = $2 and p.code = $3 and p.customer_id <> c.id
  and not exists (select from purchases x where x.account_id = c.id)
returning c.id;

-- name: promoter_due
-- The promoter of customer $1 when the purchase just written is the customer's first and no
-- reward was paid for them yet: the promoter, its customer record and its terms.
select p.id, p.customer_id, p.reward_points, p.reward_share_bp
from customers c
join promoters p on p.id = c.promoter_id
where c.id = $1
  and (select count(*) from purchases x where x.account_id = c.id) = 1
  and not exists (select from promoter_rewards r where r.customer_id = c.id);

-- name: insert_promoter_reward
-- The reward customer $1's first purchase $4 paid promoter $3 of program $2: operation $5 with
-- its lot $6, $7 points. One per customer (its primary key).
insert into promoter_rewards (customer_id, program_id, promoter_id, purchase_operation_id,
                              reward_operation_id, reward_lot_id, points)
values ($1, $2, $3, $4, $5, $6, $7)
on conflict do nothing
returning customer_id;

-- name: promoter_clawback_due
-- The reward purchase $1 paid, not clawed back yet, once the purchase is returned in full (its
-- returns gave back all its money), locked: a racing return waits and then sees it settled.
select r.customer_id, r.promoter_id, p.customer_id as promoter_customer_id,
       r.reward_operation_id, r.reward_lot_id, r.points
from promoter_rewards r
join promoters p on p.id = r.promoter_id
join purchases b on b.operation_id = r.purchase_operation_id
where r.purchase_operation_id = $1 and r.clawback_operation_id is null
  and exists (select from purchase_returns pr where pr.purchase_id = b.operation_id)
  and (select coalesce(sum(pr.money_minor), 0) from purchase_returns pr
       where pr.purchase_id = b.operation_id) >= b.money_minor
for update of r;

-- name: settle_promoter_clawback
-- Reward of customer $1 clawed back by refund operation $2, which took $3 points of reward
-- operation $4 (its refunded_points, as every refund raises its original's).
with reward as (
    update promoter_rewards set clawback_operation_id = $2
    where customer_id = $1 and clawback_operation_id is null
    returning reward_operation_id
)
update operations set refunded_points = refunded_points + $3
where id = $4 and exists (select from reward)
returning id;
