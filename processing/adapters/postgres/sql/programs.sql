-- name: insert_program
-- A program and, in the same statement, its four system accounts: every entry needs a counterpart.
with program as (
    insert into programs
        (id, name, currency, country, hold_ttl_seconds_default, hold_ttl_seconds_max, expiry_days,
         key_points_per_call_max, key_points_per_day_max)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    returning *
), system_accounts as (
    insert into accounts (id, program_id, kind)
    select gen_random_uuid(), program.id, kind
    from program, unnest(array['issued', 'redeemed', 'expired', 'adjustments']) as kind
)
select * from program;

-- name: create_program
-- Program $7 ($8-$15 its settings, $16 when it was created) as insert_program writes one, with
-- its four system accounts, and the answer ($1-$6) stored under its key in the same statement:
-- nothing is written when the key already has an answer.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
), program as (
    insert into programs
        (id, name, currency, country, hold_ttl_seconds_default, hold_ttl_seconds_max, expiry_days,
         key_points_per_call_max, key_points_per_day_max, created_at)
    select $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
    from answer
    returning id
), system_accounts as (
    insert into accounts (id, program_id, kind)
    select gen_random_uuid(), program.id, kind
    from program, unnest(array['issued', 'redeemed', 'expired', 'adjustments']) as kind
)
select id from program;

-- name: get_program
-- The program's settings; a scoped key passes its own program id as $2, an operator key null.
select * from programs where id = $1 and ($2::uuid is null or id = $2);

-- name: find_program_by_name
-- Start-up looks the demo program up by name so that a restart does not create another.
select * from programs where name = $1 order by created_at limit 1;

-- name: list_programs
-- The operator's list of programs, newest first, one page below ($3, $4) of at most $5 rows;
-- $1 scopes a program key to its own program (null: an operator key), $2 a name prefix (null:
-- any; starts_with, so % and _ in it are plain characters).
select * from programs
where ($1::uuid is null or id = $1)
  and ($2::text is null or starts_with(name, $2))
  and (created_at, id) < ($3, $4)
order by created_at desc, id desc
limit $5;
