-- name: insert_connection
-- A new partner connection; its secrets are written, never read back by the listing. No row:
-- the partner account is connected already (the unique constraint decides, even in a race).
insert into channel_connections
    (id, program_id, partner, account, key_id, secrets_sealed, settings)
values ($1, $2, $3, $4, $5, $6, $7::jsonb)
on conflict (partner, account) do nothing
returning id, program_id, partner, account, key_id, secrets::text, secrets_sealed, settings::text,
       active;

-- name: get_connection
-- An active connection by id, with what its receiver and handler need to verify and act.
select id, program_id, partner, account, key_id, secrets::text, secrets_sealed, settings::text,
       active
from channel_connections
where id = $1 and active;

-- name: list_connections
-- The active connections of one partner (the sweep visits each).
select id, program_id, partner, account, key_id, secrets::text, secrets_sealed, settings::text,
       active
from channel_connections
where partner = $1 and active
order by created_at, id;

-- name: set_connection_setting
-- One setting of a connection (a sweep's cursor), the others kept.
update channel_connections set settings = settings || jsonb_build_object($2::text, $3::text)
where id = $1;

-- name: clock_now
select clock_timestamp();

-- name: insert_inbox_event
-- Stores a partner's event once per its own id; a redelivery returns no row.
insert into channel_inbox (connection_id, event_key, topic, payload)
values ($1, $2, $3, $4::jsonb)
on conflict (connection_id, event_key) do nothing
returning id;

-- name: insert_inbox_event_coalesced
-- Stores an event that only says "read this again" (Bitrix24's: no id of its own), unless one
-- with the same payload is waiting and was never handed out: that one will read the partner
-- after this event arrived, so it sees the change too. An event already leased may have read
-- before the change, so a new one is stored then. Returns no row when coalesced.
insert into channel_inbox (connection_id, event_key, topic, payload)
select $1, $2, $3, $4::jsonb
where not exists (
    select 1 from channel_inbox
    where connection_id = $1 and payload = $4::jsonb and status = 'pending' and attempts = 0
)
on conflict (connection_id, event_key) do nothing
returning id;

-- name: lease_inbox_events
-- Up to $1 due events, each leased for $2 seconds (its next attempt moves past the lease, so a
-- worker that dies leaves it due again), oldest first; SKIP LOCKED lets workers share them.
with due as (
    select id from channel_inbox
    where status = 'pending' and next_attempt_at <= clock_timestamp()
    order by next_attempt_at, id
    limit $1
    for update skip locked
)
update channel_inbox e
set attempts = e.attempts + 1,
    next_attempt_at = clock_timestamp() + make_interval(secs => $2)
from due
where e.id = due.id
returning e.id, e.connection_id, e.event_key, e.topic, e.payload::text, e.attempts;

-- name: inbox_event_done
-- The handler finished: the event is never handed out again.
update channel_inbox set status = 'done', processed_at = clock_timestamp(), last_error = null
where id = $1 and status = 'pending';

-- name: inbox_event_failed
-- The handler failed: retry after $2 seconds, or dead once $3 attempts are spent or $5 says so.
update channel_inbox
set status = case when attempts >= $3 or $5 then 'dead' else 'pending' end,
    processed_at = case when attempts >= $3 or $5 then clock_timestamp() end,
    next_attempt_at = clock_timestamp() + make_interval(secs => $2),
    last_error = left($4, 500)
where id = $1 and status = 'pending'
returning status;

-- name: inbox_event_deferred
-- The partner asked us to wait (its rate limit): due again after $2 seconds, the attempt given
-- back, so a busy partner never makes an event dead.
update channel_inbox
set attempts = greatest(attempts - 1, 0),
    next_attempt_at = clock_timestamp() + make_interval(secs => $2),
    last_error = left($3, 500)
where id = $1 and status = 'pending';

-- name: link_contact
-- The CRM contact a deal named for this customer, the one the relay keeps up to date; written
-- only when it changes.
insert into channel_contacts (connection_id, customer_id, program_id, contact_id)
values ($1, $2, $3, $4)
on conflict (connection_id, customer_id) do update
set contact_id = excluded.contact_id, linked_at = clock_timestamp()
where channel_contacts.contact_id <> excluded.contact_id;

-- name: program_connections
-- A program's partner connections for its operator, newest first, one page below ($2, $3) of at
-- most $4 rows, disabled ones included. Neither the secrets nor the settings are read: a
-- setting may hold a partner's URL with a credential in it.
select id, program_id, partner, account, key_id, active, created_at
from channel_connections
where program_id = $1 and (created_at, id) < ($2, $3)
order by created_at desc, id desc
limit $4;

-- name: connection_program
-- Which program a connection (active or not) belongs to, for its inbox's tenancy check; $2
-- scopes a program key to its own program (null: an operator key).
select program_id from channel_connections
where id = $1 and ($2::uuid is null or program_id = $2);

-- name: inbox_events
-- A connection's inbox events, newest first, one page below ($2, $3) of at most $4 rows; the
-- payload only as its first $5 characters of JSON text, and whether there was more.
select id, connection_id, event_key, topic, status, attempts, next_attempt_at, last_error,
       received_at, processed_at, left(payload::text, $5) as payload_excerpt,
       length(payload::text) > $5 as payload_truncated
from channel_inbox
where connection_id = $1 and (received_at, id) < ($2, $3)
order by received_at desc, id desc
limit $4;

-- name: inbox_events_by_status
-- inbox_events in one status ($6): its own statement, so that the index by status serves it
-- (a few dead among millions done) whatever plan a prepared statement settles on.
select id, connection_id, event_key, topic, status, attempts, next_attempt_at, last_error,
       received_at, processed_at, left(payload::text, $5) as payload_excerpt,
       length(payload::text) > $5 as payload_truncated
from channel_inbox
where connection_id = $1 and status = $6 and (received_at, id) < ($2, $3)
order by received_at desc, id desc
limit $4;

-- name: inbox_event
-- One inbox event of connection $2 as a retry decides on it (the payload as inbox_events shows
-- it, $4 characters), with the database clock; $3 scopes a program key to its own program.
select e.id, e.connection_id, e.event_key, e.topic, e.status, e.attempts, e.next_attempt_at,
       e.last_error, e.received_at, e.processed_at, left(e.payload::text, $4) as payload_excerpt,
       length(e.payload::text) > $4 as payload_truncated, clock_timestamp() as now
from channel_inbox e
join channel_connections c on c.id = e.connection_id
where e.id = $1 and e.connection_id = $2 and ($3::uuid is null or c.program_id = $3);

-- name: retry_inbox_event
-- Dead event $7 goes back to the queue, due at $8 (the time the decision answered with) with a
-- fresh attempt budget; its last error stays for the operator to compare. The answer ($1-$6)
-- is stored under its key in the same statement. The event's row is locked first and must
-- still be dead (rechecked after the lock), and the answer is drawn from it: nothing is
-- written, the answer included, when another retry took it meanwhile or the key already has
-- an answer.
with dead as (
    select id from channel_inbox where id = $7 and status = 'dead' for update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from dead
    on conflict do nothing
    returning key_id
)
update channel_inbox
set status = 'pending', attempts = 0, next_attempt_at = $8, processed_at = null
from answer
where id = $7
returning id;
