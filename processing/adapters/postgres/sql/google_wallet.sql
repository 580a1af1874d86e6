-- name: google_wallet_facts
-- What storing program $1's Google Wallet settings is decided on (scoped to $2, a program key's
-- own; null: the operator): the program, and the database clock. No row: no such program.
select p.id as program_id, clock_timestamp() as now
from programs p
where p.id = $1 and ($2::uuid is null or p.id = $2);

-- name: put_google_wallet_settings
-- Program $7's Google Wallet settings (issuer $8, service account $9, sealed key $10, program
-- name $11, logo $12, colour $13, origins $14, by key $15 at $16) replace any it had, with the
-- answer ($1-$6), in one statement; nothing is written when the key already has an answer.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
)
insert into google_wallet_settings (program_id, issuer_id, service_account_email,
                                    private_key_sealed, program_name, logo_url,
                                    background_color, origins, key_id, updated_at)
select $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
from answer
on conflict (program_id) do update
set issuer_id = excluded.issuer_id, service_account_email = excluded.service_account_email,
    private_key_sealed = excluded.private_key_sealed, program_name = excluded.program_name,
    logo_url = excluded.logo_url, background_color = excluded.background_color,
    origins = excluded.origins, key_id = excluded.key_id, updated_at = excluded.updated_at
returning program_id;

-- name: google_wallet_settings
-- Program $1's Google Wallet settings (scoped to $2; null: any program), the sealed key too:
-- the adapter opens it only when it is asked for credentials.
select s.program_id, s.issuer_id, s.service_account_email, s.private_key_sealed,
       s.program_name, s.logo_url, s.background_color, s.origins
from google_wallet_settings s
where s.program_id = $1 and ($2::uuid is null or s.program_id = $2);

-- name: claim_wallet_object
-- Card $2 of program $1 has object $3 of class $4 from now on: recorded once, before it is
-- inserted at Google, so that a change made while it is being inserted counts. Answers whether
-- Google already has it.
with claimed as (
    insert into google_wallet_objects (program_id, card_number, object_id, class_id)
    values ($1, $2, $3, $4)
    on conflict (program_id, card_number) do nothing
    returning inserted_at
)
select (select inserted_at from claimed) is not null
    or exists (select from google_wallet_objects
               where program_id = $1 and card_number = $2 and inserted_at is not null)
    as inserted;

-- name: wallet_object_inserted
-- Google has card $2's object now; from here on the worker patches it on every change.
update google_wallet_objects set inserted_at = coalesce(inserted_at, clock_timestamp())
where program_id = $1 and card_number = $2;

-- name: lease_wallet_objects
-- Up to $1 objects with a change not yet patched, each leased for $2 seconds (its next attempt
-- moves past the lease: no other worker takes it meanwhile, and a worker that dies leaves it
-- due again afterwards). The count of changes read here is what a success marks as sent.
with due as (
    select program_id, card_number from google_wallet_objects
    where changes > synced and inserted_at is not null and next_attempt_at <= clock_timestamp()
    order by next_attempt_at
    limit $1
    for update skip locked
)
update google_wallet_objects o
set attempts = o.attempts + 1, next_attempt_at = clock_timestamp() + make_interval(secs => $2)
from due
where o.program_id = due.program_id and o.card_number = due.card_number
returning o.program_id, o.card_number, o.changes, o.attempts;

-- name: wallet_object_patched
-- Card $2's object shows the changes counted up to $3 (Google answered $4). A change counted
-- since is due at once: it is sent by the next patch.
update google_wallet_objects
set synced = greatest(synced, $3), attempts = 0, last_status = $4, last_error = null,
    patched_at = clock_timestamp(), next_attempt_at = clock_timestamp()
where program_id = $1 and card_number = $2;

-- name: wallet_object_failed
-- A patch of card $2's object failed ($4: Google's status, null: no answer; $5: the class):
-- tried again after $3 seconds, however many attempts it takes, so no change is lost.
update google_wallet_objects
set next_attempt_at = clock_timestamp() + make_interval(secs => $3),
    last_status = $4, last_error = left($5, 500)
where program_id = $1 and card_number = $2;

-- name: google_wallet_backlog_counts
-- For metrics: objects with a change waiting, and those among them that failed their last try.
select count(*) filter (where changes > synced) as pending,
       count(*) filter (where changes > synced and last_error is not null) as failing
from google_wallet_objects
where inserted_at is not null;

-- name: google_wallet_keys_for_sealing
-- Every program's sealed service account key, locked, for re-sealing under the current key.
select program_id, private_key_sealed from google_wallet_settings order by program_id for update;

-- name: seal_google_wallet_key
update google_wallet_settings set private_key_sealed = $2 where program_id = $1;
