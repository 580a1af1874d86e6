-- name: claim_idempotency_key
-- A transaction-scoped advisory lock on the key: a second request with the same key while the
-- first is in flight sees false and answers 409 instead of waiting.
select pg_try_advisory_xact_lock(hashtextextended($1::uuid::text || '/' || $2, 0));

-- name: find_idempotency_key
-- The stored answer for this key, if the first request finished.
select fingerprint, status_code, media_type, body from idempotency_keys
where key_id = $1 and key = $2;

-- name: insert_idempotency_key
-- The answer, stored in the same transaction as the effect it describes.
insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
values ($1, $2, $3, $4, $5, $6);

-- name: purge_idempotency_keys
-- Keys older than the retention are forgotten; business documents still refuse a second effect.
delete from idempotency_keys where created_at < clock_timestamp() - make_interval(secs => $1);

-- name: replace_idempotency_answer
-- After the transaction committed, the answer under a key is replaced when what happened next
-- changed it (an SMS the provider refused after its check was stored): a replay then tells the
-- truth.
update idempotency_keys set status_code = $3, media_type = $4, body = $5
where key_id = $1 and key = $2;
