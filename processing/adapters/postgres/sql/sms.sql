-- name: insert_sms_check
-- A new confirmation check: the code's HMAC and the id of the key it was made with, its expiry
-- by the database clock ($6 seconds); $7 the store of the till that asked for it.
insert into sms_checks (id, program_id, customer_id, code_hmac, code_key_id, expires_at, store_id)
values ($1, $2, $3, $4, $5, clock_timestamp() + make_interval(secs => $6), $7)
returning expires_at;

-- name: recent_sms_checks
-- How many checks a customer was sent in the last $2 seconds (the send rate limit); counted
-- under the customer's account row lock, so concurrent sends cannot both slip under it. A
-- check the provider refused was never sent, so it does not count.
select count(*) from sms_checks
where customer_id = $1
  and created_at > clock_timestamp() - make_interval(secs => $2)
  and abandoned_at is null;

-- name: lock_sms_check
-- A check as a confirmation reads it, locked so two confirmations count their attempts in turn;
-- another program's check is not found, nor another store's when $3 names the caller's store.
select id, customer_id, code_hmac, code_key_id, code_sha256, attempts, verified_at,
       expires_at <= clock_timestamp() or abandoned_at is not null as expired
from sms_checks
where id = $1 and program_id = $2 and ($3::text is null or store_id = $3)
for update;

-- name: sms_check_attempted
-- A wrong code: one more attempt counted; returns the count.
update sms_checks set attempts = attempts + 1 where id = $1 returning attempts;

-- name: sms_check_verified
-- The right code: the check is spent; returns when.
update sms_checks set verified_at = clock_timestamp() where id = $1 and verified_at is null
returning verified_at;

-- name: sms_check_abandoned
-- The provider did not take the SMS: no one can confirm the check, and it was never sent.
update sms_checks set abandoned_at = clock_timestamp() where id = $1 and abandoned_at is null;
