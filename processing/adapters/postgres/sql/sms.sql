-- name: sms_send_facts
-- What a send decides on, in one snapshot: the customer if the caller may see them ($2 scopes a
-- program key to its own program) with the account's block, how many checks they were sent in
-- the last $3 seconds (the send rate limit; a check the provider refused was never sent, so it
-- does not count), the account row's version that send_sms_check checks, the program's own
-- code template (nulls: the default) with its name, and the database clock.
select c.program_id, c.phone, a.blocked_reason is not null as blocked,
       a.xmin::text::bigint as version,
       (select count(*) from sms_checks s
        where s.customer_id = c.id and s.abandoned_at is null
          and s.created_at > clock.now - make_interval(secs => $3)) as recent,
       p.name as program_name, t.locale, t.text, clock.now
from customers c
join accounts a on a.id = c.id
join programs p on p.id = c.program_id
left join message_templates t on t.program_id = p.id and t.kind = 'sms_code'
cross join (select clock_timestamp() as now) clock
where c.id = $1 and ($2::uuid is null or c.program_id = $2);

-- name: send_sms_check
-- A new confirmation check ($9 its id, $10 program, $11 the code's HMAC, $12 the id of the key it
-- was made with, $13 when it was made, $14 its expiry, $15 the store of the till that asked for
-- it) for customer $7, with the answer ($1-$6) stored under its key in the same statement. The
-- rate limit was counted, and the block read, at the account row's version $8: the row is locked
-- only if it is still that version (a block changes it) and every send bumps it, so of two
-- sends decided on one count the second writes nothing (its answer included) and is decided
-- again. Nothing is written when the key already has an answer.
with unchanged as (
    select id from accounts where id = $7 and xmin::text::bigint = $8 for update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from unchanged
    on conflict do nothing
    returning key_id
), bumped as (
    -- A new row version and nothing else: the next send's check sees it.
    update accounts set blocked_reason = blocked_reason from answer where accounts.id = $7
)
insert into sms_checks (id, program_id, customer_id, code_hmac, code_key_id, created_at,
                        expires_at, store_id)
select $9, $10, $7, $11, $12, $13, $14, $15 from answer
returning id;

-- name: sms_check
-- A check as a confirmation decides on it, with its row version (the writes below count a try or
-- spend the check only at that version) and the database clock; another program's check is not
-- found, nor another store's when $3 names the caller's store.
select s.id, s.customer_id, s.code_hmac, s.code_key_id, s.code_sha256, s.attempts,
       s.verified_at is not null as verified,
       s.expires_at <= clock.now or s.abandoned_at is not null as expired,
       s.xmin::text::bigint as version, clock.now
from sms_checks s
cross join (select clock_timestamp() as now) clock
where s.id = $1 and s.program_id = $2 and ($3::text is null or s.store_id = $3);

-- name: sms_check_attempted
-- A wrong code for check $7: one more try counted, with the answer ($1-$6) stored under its key
-- in the same statement. The answer says how many tries are left, counted from the version $8
-- the decision read: the row is locked only if it is still that version and the answer is drawn
-- from it, so of parallel wrong guesses decided on one count one try is written and the others
-- write nothing and are decided again on the new count. Nothing is written when the key already
-- has an answer.
with unchanged as (
    select id from sms_checks where id = $7 and xmin::text::bigint = $8 for no key update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from unchanged
    on conflict do nothing
    returning key_id
)
update sms_checks set attempts = attempts + 1
from answer
where sms_checks.id = $7
returning sms_checks.id;

-- name: sms_check_verified
-- The right code spends check $7 at $9, with the answer ($1-$6) stored under its key in the same
-- statement, only if the check is still the version $8 the decision read (locked first, the
-- answer drawn from it): of two confirmations at once, under any keys, one spends it and the
-- other is decided again and finds it used. Nothing is written when the key already has an
-- answer.
with unchanged as (
    select id from sms_checks where id = $7 and xmin::text::bigint = $8 for no key update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from unchanged
    on conflict do nothing
    returning key_id
)
update sms_checks set verified_at = $9
from answer
where sms_checks.id = $7
returning sms_checks.id;

-- name: sms_check_abandoned
-- The provider did not take the SMS: no one can confirm the check, and it was never sent.
update sms_checks set abandoned_at = clock_timestamp() where id = $1 and abandoned_at is null;
