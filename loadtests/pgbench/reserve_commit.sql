-- The baseline for one reserve → commit pair: the statements the API runs for them (traced
-- with log_statement = all), issued straight to Postgres. The API authenticates from its key
-- cache, so no key lookup appears here. Variables: :customers (how many seeded), :program,
-- :key_id, :redeemed (the program's redeemed account). A Zipf-skewed customer, as in the API
-- scenario; the hot-account baseline replaces the first line with customer 1.
\set n random_zipfian(1, :customers, 1.1)
\set points random(1, 20)
-- reserve
begin;
select gen_random_uuid() as hold_id, gen_random_uuid() as reserve_id, gen_random_uuid() as commit_id,
       md5(random()::text) as reserve_key, md5(random()::text) as commit_key \gset
select pg_try_advisory_xact_lock(hashtextextended(:key_id::text || '/' || :reserve_key::text, 0));
select fingerprint, status_code, media_type, body from idempotency_keys
where key_id = :key_id and key = :reserve_key;
select a.id, a.program_id, a.posted, a.reserved, a.blocked_reason is not null as blocked,
       p.hold_ttl_seconds_default, p.hold_ttl_seconds_max, p.expiry_days, clock_timestamp() as now
from accounts a join programs p on p.id = a.program_id
where a.id = md5('customer' || :n::text)::uuid and a.kind = 'customer' and a.program_id = :program
for update of a;
select id, points, remaining, held, activates_at, expires_at
from lots where account_id = md5('customer' || :n::text)::uuid and open;
select id from holds
where program_id = :program and coalesce(store_id, '') = 'store-1'
  and document_id = :reserve_key and status = 'active';
with operation as (
    insert into operations (id, program_id, account_id, type, points, hold_id, document_id,
                            channel, key_id, store_id, available_after, created_at)
    values (:reserve_id, :program, md5('customer' || :n::text)::uuid, 'reserve', :points,
            :hold_id, :reserve_key, 'pos', :key_id, 'store-1', 0, clock_timestamp())
), changed_lots as (
    update lots set held = held + :points::bigint where id = md5('lot' || :n::text)::uuid
), totals as (
    update accounts set reserved = reserved + :points::bigint
    where id = md5('customer' || :n::text)::uuid
)
insert into outbox (program_id, operation_id, type, payload)
values (:program, :reserve_id, 'operation.reserve', '{"type": "reserve"}');
with hold as (
    insert into holds (id, program_id, account_id, operation_id, points, status, expires_at,
                       store_id, document_id, created_at)
    values (:hold_id, :program, md5('customer' || :n::text)::uuid, :reserve_id, :points,
            'active', clock_timestamp() + interval '15 minutes', 'store-1', :reserve_key,
            clock_timestamp())
)
insert into hold_allocations (hold_id, lot_id, points)
values (:hold_id, md5('lot' || :n::text)::uuid, :points);
insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
values (:key_id, :reserve_key, '\x00', 201, 'application/json',
        convert_to(repeat('x', 300), 'utf8'));
commit;
-- commit
select account_id from holds where id = :hold_id and program_id = :program;
begin;
select pg_try_advisory_xact_lock(hashtextextended(:key_id::text || '/' || :commit_key::text, 0));
select fingerprint, status_code, media_type, body from idempotency_keys
where key_id = :key_id and key = :commit_key;
select a.id, a.program_id, a.posted, a.reserved, a.blocked_reason is not null as blocked,
       p.hold_ttl_seconds_default, p.hold_ttl_seconds_max, p.expiry_days, clock_timestamp() as now
from accounts a join programs p on p.id = a.program_id
where a.id = md5('customer' || :n::text)::uuid and a.kind = 'customer' and a.program_id = :program
for update of a;
select id, points, remaining, held, activates_at, expires_at
from lots where account_id = md5('customer' || :n::text)::uuid and open;
select id, account_id, points, status, expires_at from holds
where id = :hold_id and program_id = :program for update;
select lot_id, points from hold_allocations where hold_id = :hold_id;
with operation as (
    insert into operations (id, program_id, account_id, type, points, hold_id, channel, key_id,
                            store_id, available_after, created_at)
    values (:commit_id, :program, md5('customer' || :n::text)::uuid, 'commit',
            -(:points::bigint), :hold_id, 'pos', :key_id, 'store-1', 0, clock_timestamp())
), changed_lots as (
    update lots set remaining = remaining - :points::bigint, held = held - :points::bigint
    where id = md5('lot' || :n::text)::uuid
), entries as (
    insert into entries (program_id, operation_id, account_id, lot_id, points)
    values (:program, :commit_id, md5('customer' || :n::text)::uuid, md5('lot' || :n::text)::uuid,
            -(:points::bigint)),
           (:program, :commit_id, :redeemed, null, :points)
), totals as (
    update accounts set posted = posted - :points::bigint, reserved = reserved - :points::bigint
    where id = md5('customer' || :n::text)::uuid
)
insert into outbox (program_id, operation_id, type, payload)
values (:program, :commit_id, 'operation.commit', '{"type": "commit"}');
update holds set status = 'committed', committed_points = :points,
                 resolved_at = clock_timestamp(), resolved_by = :commit_id
where id = :hold_id and status = 'active';
insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
values (:key_id, :commit_key, '\x00', 200, 'application/json',
        convert_to(repeat('x', 300), 'utf8'));
commit;
