-- name: insert_api_key
-- Only the SHA-256 of the secret is stored: secrets are 256-bit random, so a slow hash adds nothing.
-- $7 the key that minted it (null: the operator's console), $8 when it expires (null: never).
insert into api_keys (id, program_id, name, scopes, store_id, secret_sha256, created_by, expires_at)
values ($1, $2, $3, $4, $5, $6, $7, $8)
returning id, program_id, name, scopes, store_id, merchant_id, created_by, expires_at, created_at;

-- name: ensure_api_key
-- The operator key from BONUS_ADMIN_KEY: created once, kept on every later start. When the
-- variable is changed to a new secret, the key of the old one is revoked.
with retired as (
    update api_keys set revoked_at = clock_timestamp()
    where name = $2 and program_id is null and secret_sha256 <> $3 and revoked_at is null
)
insert into api_keys (id, program_id, name, scopes, store_id, secret_sha256)
values ($1, null, $2, array['admin'], null, $3)
on conflict (secret_sha256) do update set revoked_at = null
returning id;

-- name: authenticate
-- Every request: the live, unexpired key with this secret hash, if any.
-- A rotated key's old secret works too, until its grace period ends.
select id, program_id, scopes, store_id, merchant_id, expires_at from api_keys
where (secret_sha256 = $1
       or (previous_secret_sha256 = $1 and previous_valid_until > clock_timestamp()))
  and revoked_at is null
  and (expires_at is null or expires_at > clock_timestamp());

-- name: mint_facts
-- What minting a key decides on: whether the caller may see program $1 ($2 scopes a program key
-- to its own, null: the operator), whether the minting key $3 is still live (a key revoked
-- through another instance authenticates there for a few cached seconds), whether merchant
-- $4 (null: none asked) is one of program $1's, the merchant store $5 (null: none asked)
-- belongs to now, and the time.
select exists (select from programs where id = $1 and ($2::uuid is null or id = $2))
           as program_found,
       ($4::uuid is null or exists (select from merchants where id = $4 and program_id = $1))
           as merchant_found,
       case when $5::text is not null then store_merchant($1, $5, clock_timestamp()) end
           as store_merchant_id,
       exists (select from api_keys where id = $3 and revoked_at is null) as minter_live,
       clock_timestamp() as now;

-- name: mint_api_key
-- Key $7 of program $8 ($9 its name, $10 its scopes, $11 its store, $12 its secret's hash, $13
-- when it expires, $14 when it was created, $16 its merchant), minted by key $15, with the answer ($1-$6) stored
-- under its key in the same statement, only while the minter is live: its row is locked and
-- checked at its newest version, and the answer is drawn from it, so a minter revoked meanwhile
-- leaves nothing written, not even the answer, and the caller decides again. Nothing is written
-- when the key already has an answer. The minter's row is updated (to what it holds) so that
-- its version moves: a revocation that read the key tree before this key existed sees that and
-- reads the tree again (revoke_api_keys).
with live as (
    select id from api_keys where id = $15 and revoked_at is null for update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from live
    on conflict do nothing
    returning key_id
), minter as (
    update api_keys set revoked_at = null
    from live, answer
    where api_keys.id = live.id
    returning api_keys.id
)
insert into api_keys
    (id, program_id, name, scopes, store_id, secret_sha256, expires_at, created_at, created_by,
     merchant_id)
select $7, $8, $9, $10, $11, $12, $13, $14, minter.id, $16
from minter
returning id;

-- name: live_api_key
-- A live, unexpired key the caller may rotate ($2 scopes a program key to its own program,
-- null: the operator), with its row version.
select id, program_id, name, scopes, store_id, merchant_id, created_by, expires_at, created_at,
       revoked_at, xmin::text::bigint as version
from api_keys
where id = $1 and ($2::uuid is null or program_id = $2) and revoked_at is null
  and (expires_at is null or expires_at > clock_timestamp());

-- name: rotate_api_key
-- A new secret ($9, its hash) for key $7, if its row is still version $8, the one the decision
-- read (locked, and checked at its newest version); the current secret becomes the previous
-- one, working $10 seconds more. An older previous secret ends now. The answer ($1-$6) is
-- stored under its key in the same statement, drawn from that check: a key changed meanwhile
-- leaves nothing written, not even the answer, and the caller decides again. Nothing is written
-- when the key already has an answer.
with unchanged as (
    select id from api_keys where id = $7 and xmin::text::bigint = $8 for update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from unchanged
    on conflict do nothing
    returning key_id
)
update api_keys
set previous_secret_sha256 = secret_sha256,
    previous_valid_until = clock_timestamp() + make_interval(secs => $10),
    secret_sha256 = $9
from unchanged, answer
where api_keys.id = unchanged.id
returning api_keys.id;

-- name: key_tree
-- A live key the caller may revoke ($2 scopes a program key to its own program, null: the
-- operator), first, and every key under it: those it minted, and theirs, all the way down,
-- revoked or not, each with its row version; and the time the decision takes as now.
with recursive tree (id) as (
    select id from api_keys
    where id = $1 and ($2::uuid is null or program_id = $2) and revoked_at is null
    union
    select k.id from api_keys k join tree on k.created_by = tree.id
)
select k.id, k.program_id, k.name, k.scopes, k.store_id, k.merchant_id, k.created_by,
       k.expires_at, k.created_at, k.revoked_at, k.xmin::text::bigint as version, c.now
from tree
join api_keys k on k.id = tree.id
cross join (select clock_timestamp() as now) c
order by k.id = $1 desc;

-- name: revoke_api_keys
-- Revokes at $9 the live ones of keys $7, a key and every key under it as key_tree read them,
-- only if every one of them is still the version read ($8): each is locked and checked at its
-- newest version (a count of the rows this statement locked, not of a snapshot). The answer
-- ($1-$6) is stored under its key in the same statement, drawn from that check: a tree changed
-- meanwhile leaves nothing written, not even the answer, and the caller reads it again. Minting
-- a key moves its minter's version (mint_api_key), so a key minted under the tree since it was
-- read is found by that second read. Nothing is written when the key already has an answer.
with unchanged as (
    select k.id, k.revoked_at
    from unnest($7::uuid[], $8::bigint[]) as read (id, version)
    join api_keys k on k.id = read.id and k.xmin::text::bigint = read.version
    for update of k
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6
    where (select count(*) from unchanged) = cardinality($7::uuid[])
    on conflict do nothing
    returning key_id
)
update api_keys set revoked_at = $9
from unchanged, answer
where api_keys.id = unchanged.id and unchanged.revoked_at is null
returning api_keys.id;

-- name: list_api_keys
-- A program's keys for its operator, newest first, one page below ($3, $4) of at most $5 rows;
-- $2 narrows by status: live (neither revoked nor expired), revoked, or expired (not revoked,
-- past its expiry), by the database clock as authenticate reads it. Never the secrets' hashes.
select id, program_id, name, scopes, store_id, merchant_id, created_by, expires_at, created_at,
       revoked_at
from api_keys
where program_id = $1
  and (created_at, id) < ($3, $4)
  and case $2::text
          when 'live' then revoked_at is null
                           and (expires_at is null or expires_at > clock_timestamp())
          when 'revoked' then revoked_at is not null
          when 'expired' then revoked_at is null and expires_at <= clock_timestamp()
          else true
      end
order by created_at desc, id desc
limit $5;
