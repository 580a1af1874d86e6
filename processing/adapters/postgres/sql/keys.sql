-- name: insert_api_key
-- Only the SHA-256 of the secret is stored: secrets are 256-bit random, so a slow hash adds nothing.
-- $7 the key that minted it (null: the operator's console), $8 when it expires (null: never).
insert into api_keys (id, program_id, name, scopes, store_id, secret_sha256, created_by, expires_at)
values ($1, $2, $3, $4, $5, $6, $7, $8)
returning id, program_id, name, scopes, store_id, created_by, expires_at, created_at;

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
select id, program_id, scopes, store_id, expires_at from api_keys
where (secret_sha256 = $1
       or (previous_secret_sha256 = $1 and previous_valid_until > clock_timestamp()))
  and revoked_at is null
  and (expires_at is null or expires_at > clock_timestamp());

-- name: revoke_api_key
-- Revocation: the instance that revokes refuses the key at once, the others within
-- limits.api_key_cache_seconds.
update api_keys set revoked_at = clock_timestamp()
where id = $1 and ($2::uuid is null or program_id = $2) and revoked_at is null
returning id, program_id, name, scopes, store_id, created_by, expires_at, created_at, revoked_at;

-- name: revoke_minted_keys
-- A revoked key's minted keys, and theirs, all the way down: revoked with it, in its
-- transaction. Returns the ids revoked now, for the caches.
with recursive minted (id) as (
    select id from api_keys where created_by = $1
    union
    select k.id from api_keys k join minted m on k.created_by = m.id
)
update api_keys set revoked_at = clock_timestamp()
where id in (select id from minted) and revoked_at is null
returning id;

-- name: rotate_api_key
-- A new secret for a live key of the caller's program ($2 null: the operator); the current
-- secret becomes the previous one, working $4 seconds more. An older previous secret ends now.
update api_keys
set previous_secret_sha256 = secret_sha256,
    previous_valid_until = clock_timestamp() + make_interval(secs => $4),
    secret_sha256 = $3
where id = $1 and ($2::uuid is null or program_id = $2) and revoked_at is null
  and (expires_at is null or expires_at > clock_timestamp())
returning id, program_id, name, scopes, store_id, created_by, expires_at, created_at, revoked_at;
