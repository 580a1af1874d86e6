-- name: merchant_facts
-- What a new merchant of program $1 is decided on (scoped to $2, a program key's own; null: the
-- operator): the program, and the database clock. No row: no such program.
select p.id as program_id, clock_timestamp() as now
from programs p
where p.id = $1 and ($2::uuid is null or p.id = $2);

-- name: insert_merchant
-- Merchant $7 of program $8 (name $9, legal name $10, tax id $11, by key $12 at $13) with the
-- answer ($1-$6), in one statement; nothing is written when the key already has an answer.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
)
insert into merchants (id, program_id, name, legal_name, tax_id, key_id, created_at)
select $7, $8, $9, $10, $11, $12, $13
from answer
returning id;

-- name: get_merchant
-- Merchant $1, when it is in program $2 (null: any program).
select id, program_id, name, legal_name, tax_id, created_at
from merchants
where id = $1 and ($2::uuid is null or program_id = $2);

-- name: list_merchants
-- A page of program $1's merchants, newest first, older than position ($2, $3), at most $4.
select id, program_id, name, legal_name, tax_id, created_at
from merchants
where program_id = $1 and (created_at, id) < ($2::timestamptz, $3::uuid)
order by created_at desc, id desc
limit $4;

-- name: program_merchants
-- Every merchant of program $1 with its name: the parties of a statement.
select id, name from merchants where program_id = $1;

-- name: store_facts
-- What assigning store $3 to merchant $1 (scoped to program $2; null: the operator), or ending
-- that assignment, is decided on: the merchant's program, whether a key of the program names
-- the store (tills are keyed per store), the store's open assignment (its id and merchant) if
-- it has one, and the database clock. No row: no such merchant.
select m.id as merchant_id, m.program_id,
       exists (select from api_keys k where k.program_id = m.program_id and k.store_id = $3)
           as store_known,
       a.id as assignment_id, a.merchant_id as assigned_to, a.assigned_at,
       clock_timestamp() as now
from merchants m
left join merchant_stores a
    on a.program_id = m.program_id and a.store_id = $3 and a.unassigned_at is null
where m.id = $1 and ($2::uuid is null or m.program_id = $2);

-- name: assign_store
-- Assignment $7 of store $10 to merchant $8 of program $9 from $11 (by key $12), with the
-- answer ($1-$6). Two assignments of one store race for merchant_stores_open: the loser writes
-- nothing and is decided again, and then sees the winner.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
)
insert into merchant_stores (id, merchant_id, program_id, store_id, assigned_at, assigned_by)
select $7, $8, $9, $10, $11, $12
from answer
returning id;

-- name: unassign_store
-- Ends assignment $7 at $8 (by key $9), with the answer ($1-$6), only while it is still open:
-- an assignment ended meanwhile writes nothing, the answer included, and is decided again.
with open as (
    select id from merchant_stores where id = $7 and unassigned_at is null for update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from open
    on conflict do nothing
    returning key_id
)
update merchant_stores
set unassigned_at = $8, unassigned_by = $9
from answer
where merchant_stores.id = $7
returning merchant_stores.id;

-- name: merchant_stores
-- A page of merchant $1's stores assigned now, newest assignment first, older than position
-- ($2, $3), at most $4.
select id, merchant_id, program_id, store_id, assigned_at, unassigned_at
from merchant_stores
where merchant_id = $1 and unassigned_at is null
  and (assigned_at, id) < ($2::timestamptz, $3::uuid)
order by assigned_at desc, id desc
limit $4;

-- name: merchant_operations
-- Those of operations $1 made at a store that was merchant $2's when they were made: a
-- merchant's key sees them whole in a statement (decision 0026).
select id from operations
where id = any($1::uuid[]) and store_merchant(program_id, store_id, created_at) = $2;
