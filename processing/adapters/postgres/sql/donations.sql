-- name: insert_charity
-- Charity $7 of program $8 ($9 name, $10 details, $11 the key that named it, $12 when) and its
-- account (kind charity, sharing its id) with the answer ($1-$6) in one statement: nothing
-- when the key already has an answer.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
), account as (
    insert into accounts (id, program_id, kind)
    select $7, $8, 'charity' from answer
    returning id
)
insert into charities (id, program_id, name, details, key_id, created_at)
select account.id, $8, $9, $10, $11, $12 from account
returning id;

-- name: get_charity
-- Charity $1 when it is program $2's ($2 null: any program's, for an operator key), with the
-- points it received in all (the sum of its account's entries).
select c.id, c.program_id, c.name, c.details, c.created_at,
       coalesce((select sum(points) from entries where account_id = c.id), 0)::bigint
           as received_points
from charities c
where c.id = $1 and ($2::uuid is null or c.program_id = $2);

-- name: list_charities
-- Program $1's charities older than ($2, $3), newest first, at most $4, each with what it
-- received.
select c.id, c.program_id, c.name, c.details, c.created_at,
       coalesce((select sum(points) from entries where account_id = c.id), 0)::bigint
           as received_points
from charities c
where c.program_id = $1 and (c.created_at, c.id) < ($2, $3)
order by c.created_at desc, c.id desc
limit $4;

-- name: charity_report
-- What charity $1 received from $2 (inclusive) to $3 (exclusive): the points, the customers who
-- gave and the donations, read from its account's entries (entries_account) and their
-- operations.
select coalesce(sum(e.points), 0)::bigint as points,
       count(distinct o.account_id) as donors,
       count(*) as donations
from entries e
join operations o on o.id = e.operation_id
where e.account_id = $1 and o.type = 'donation' and o.created_at >= $2 and o.created_at < $3;
