-- name: enrollment_page_facts
-- What setting program $1's enrollment page is decided on: whether the caller may see the
-- program ($2 scopes a program key to its own), the program of the slug $3 asks for if another
-- program has it, and the database clock.
select p.id as program_id,
       (select e.program_id from enrollment_pages e
        where e.slug = $3 and e.program_id <> p.id) as slug_holder,
       clock_timestamp() as now
from programs p
where p.id = $1 and ($2::uuid is null or p.id = $2);

-- name: put_enrollment_page
-- Program $7's enrollment page set ($8 slug, $9 enabled, $10 display name, $11 terms, $12 and
-- $13 the consent wording for SMS and e-mail, $16 when), with the answer ($1-$6) stored under
-- its key in the same statement. The first setting also makes the page's own key ($14, a
-- secret hash $15 of a secret nobody is given), the actor of everything the page writes; later
-- ones keep it. Nothing is written when the key already has an answer.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
), page_key as (
    insert into api_keys (id, program_id, name, scopes, secret_sha256)
    select $14, $7, 'enrollment page', array['crm'], $15 from answer
    where not exists (select 1 from enrollment_pages where program_id = $7)
    returning id
)
insert into enrollment_pages (program_id, slug, enabled, display_name, terms, sms_wording,
                              email_wording, key_id, updated_at)
select $7, $8, $9, $10, $11, $12, $13,
       coalesce((select id from page_key),
                (select key_id from enrollment_pages where program_id = $7)),
       $16
from answer
on conflict (program_id) do update
set slug = excluded.slug, enabled = excluded.enabled, display_name = excluded.display_name,
    terms = excluded.terms, sms_wording = excluded.sms_wording,
    email_wording = excluded.email_wording, updated_at = excluded.updated_at
returning program_id;

-- name: enrollment_page_of_program
-- Program $1's enrollment page, if the caller may see the program ($2 as above).
select e.program_id, e.slug, e.enabled, e.display_name, e.terms, e.sms_wording,
       e.email_wording, e.key_id, e.updated_at, p.country
from enrollment_pages e
join programs p on p.id = e.program_id
where e.program_id = $1 and ($2::uuid is null or e.program_id = $2);

-- name: enrollment_page_by_slug
-- The page a visitor opens at /join/$1, with its program's country (how a local phone reads).
select e.program_id, e.slug, e.enabled, e.display_name, e.terms, e.sms_wording,
       e.email_wording, e.key_id, e.updated_at, p.country
from enrollment_pages e
join programs p on p.id = e.program_id
where e.slug = $1;

-- name: lock_enrollment_phone
-- Codes to one phone are counted and written under this transaction-long lock, so two sends
-- at once cannot both slip under the phone's limits.
select pg_advisory_xact_lock(hashtextextended('enrollment:' || $1, 0));

-- name: enrollment_phone_sends
-- How many codes phone $1 was sent (by any program's page; a code the gateway refused was
-- never sent) in the last hour and the last day, and the database clock.
select count(*) filter (where created_at > clock.now - interval '1 hour') as last_hour,
       count(*) as last_day,
       clock.now
from (select clock_timestamp() as now) clock
left join enrollment_codes c
  on c.phone = $1 and c.abandoned_at is null and c.created_at > clock.now - interval '1 day'
group by clock.now;

-- name: insert_enrollment_code
-- A code sent to a phone: only its HMAC ($4) under key $5, never the code.
insert into enrollment_codes (id, program_id, phone, code_hmac, code_key_id, created_at,
                              expires_at)
values ($1, $2, $3, $4, $5, $6, $7);

-- name: enrollment_code_abandoned
-- The gateway did not take the SMS: nobody can confirm the code, and it was never sent.
update enrollment_codes set abandoned_at = clock_timestamp()
where id = $1 and abandoned_at is null;

-- name: enrollment_code_try
-- One try at code $1 of program $2, counted before the code is compared, so no burst of
-- guesses gets more than $3 comparisons: the row is returned (with its HMAC) only while the code
-- is live, unspent and under its tries; nothing is counted otherwise.
update enrollment_codes set attempts = attempts + 1
where id = $1 and program_id = $2 and verified_at is null and abandoned_at is null
  and expires_at > clock_timestamp() and attempts < $3
returning id, phone, code_hmac, code_key_id, attempts;

-- name: enrollment_code_state
-- Why a try was not counted: the code unknown (no row), spent, expired or out of tries.
select verified_at is not null as verified,
       abandoned_at is not null or expires_at <= clock_timestamp() as expired,
       attempts
from enrollment_codes
where id = $1 and program_id = $2;

-- name: enrollment_code_verified
-- The right code spends it once: of two right tries at once, one gets the row.
update enrollment_codes set verified_at = clock_timestamp()
where id = $1 and verified_at is null
returning id;
