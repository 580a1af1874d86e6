-- name: install_grant_facts
-- What creating an install link decides on: whether the caller may see program $1 ($2 scopes a
-- program key to its own, null: the operator), and the time.
select exists (select from programs where id = $1 and ($2::uuid is null or id = $2))
           as program_found,
       clock_timestamp() as now;

-- name: insert_install_grant
-- Install grant $7 (its token's SHA-256) of program $8, made by key $9, usable until $10, with
-- the answer ($1-$6) stored under its key in the same statement; nothing is written when the key
-- already has an answer.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from programs where id = $8
    on conflict do nothing
    returning key_id
)
insert into bitrix24_install_grants (token_sha256, program_id, created_by, expires_at)
select $7, $8, $9, $10 from answer
returning token_sha256;

-- name: install_grant_program
-- The program of grant $1 while it is unused and unexpired (the install checks it before it
-- calls the portal; spend_install_grant decides again in the install's transaction).
select program_id from bitrix24_install_grants
where token_sha256 = $1 and used_at is null and expires_at > clock_timestamp();

-- name: spend_install_grant
-- Grant $1 spent by the install that made connection $2, once: no row when it was spent or
-- expired meanwhile, and the install's transaction is rolled back.
update bitrix24_install_grants set used_at = clock_timestamp(), connection_id = $2
where token_sha256 = $1 and used_at is null and expires_at > clock_timestamp()
returning program_id;

-- name: bitrix24_connection
-- A portal's connection by its domain, active or not (a reinstall takes the same one again).
select id, program_id, partner, account, key_id, secrets::text, secrets_sealed, settings::text,
       active
from channel_connections
where partner = 'bitrix24' and account = $1;

-- name: reconnect
-- A reinstalled portal: connection $1 active again with its new secrets ($2, sealed) and its
-- settings merged with $3.
update channel_connections
set secrets_sealed = $2, secrets = '{}'::jsonb, settings = settings || $3::jsonb, active = true
where id = $1
returning id, program_id, partner, account, key_id, secrets::text, secrets_sealed, settings::text,
          active;

-- name: upsert_portal
-- Portal $1 installed on connection $2 with a pair that lives $3 seconds; a reinstall's pair is
-- a new generation, and a refresh that started before it stores nothing. No row: the member_id
-- is another connection's (an install naming a portal it is not, or a portal whose address
-- changed), and nothing is written.
insert into bitrix24_portals (member_id, connection_id, access_expires_at)
values ($1, $2, clock_timestamp() + make_interval(secs => $3))
on conflict (member_id) do update
set access_expires_at = excluded.access_expires_at,
    token_generation = bitrix24_portals.token_generation + 1,
    refreshing_until = null
where bitrix24_portals.connection_id = excluded.connection_id
returning member_id;

-- name: portal
-- An installed portal by its connection, with the connection (secrets sealed) and the time.
select p.member_id, p.access_expires_at, p.token_generation, clock_timestamp() as now,
       c.id, c.program_id, c.partner, c.account, c.key_id, c.secrets::text, c.secrets_sealed,
       c.settings::text, c.active
from bitrix24_portals p join channel_connections c on c.id = p.connection_id
where p.connection_id = $1;

-- name: portal_by_member
-- An installed portal by its member_id (placement requests and application events name it).
select p.member_id, p.access_expires_at, p.token_generation, clock_timestamp() as now,
       c.id, c.program_id, c.partner, c.account, c.key_id, c.secrets::text, c.secrets_sealed,
       c.settings::text, c.active
from bitrix24_portals p join channel_connections c on c.id = p.connection_id
where p.member_id = $1;

-- name: claim_token_refresh
-- Connection $1's pair of generation $2 is refreshed by this caller for at most $3 seconds: no
-- row when the generation moved or another caller's claim still runs.
update bitrix24_portals
set refreshing_until = clock_timestamp() + make_interval(secs => $3)
where connection_id = $1 and token_generation = $2
  and (refreshing_until is null or refreshing_until < clock_timestamp())
returning connection_id;

-- name: release_token_refresh
-- A refresh that failed gives its claim back, so the next caller tries at once.
update bitrix24_portals set refreshing_until = null
where connection_id = $1 and token_generation = $2;

-- name: store_refreshed_tokens
-- The refreshed pair ($3, sealed secrets) of connection $1, living $4 seconds, stored only over
-- generation $2 it was refreshed from, which moves by one in the same statement.
with moved as (
    update bitrix24_portals
    set token_generation = token_generation + 1, refreshing_until = null,
        access_expires_at = clock_timestamp() + make_interval(secs => $4)
    where connection_id = $1 and token_generation = $2
    returning connection_id
)
update channel_connections c set secrets_sealed = $3, secrets = '{}'::jsonb
from moved where c.id = moved.connection_id
returning c.id;

-- name: deactivate_connection
-- An uninstalled portal's connection stops: its receiver and worker no longer find it.
update channel_connections set active = false where id = $1 and active returning id;
