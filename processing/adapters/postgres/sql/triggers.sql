-- name: message_settings
-- A program's messaging settings (time zone, quiet hours, daily cap); no row: the defaults.
select time_zone, quiet_start_minute, quiet_end_minute, daily_cap, updated_at
from message_settings
where program_id = $1;

-- name: put_message_settings
-- Replaces program $7's messaging settings ($8 zone, $9 quiet start, $10 quiet end, $11 cap,
-- $12 when) with the answer ($1-$6) stored under its key in the same statement.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
)
insert into message_settings (program_id, time_zone, quiet_start_minute, quiet_end_minute,
                              daily_cap, updated_at)
select $7, $8, $9, $10, $11, $12 from answer
on conflict (program_id) do update
set time_zone = excluded.time_zone, quiet_start_minute = excluded.quiet_start_minute,
    quiet_end_minute = excluded.quiet_end_minute, daily_cap = excluded.daily_cap,
    updated_at = excluded.updated_at
returning program_id;

-- name: message_triggers
-- A program's triggers as stored (those never stored are off).
select trigger, enabled, kind, days_before, templates::text as templates, version, updated_at
from message_triggers
where program_id = $1
order by trigger;

-- name: message_trigger
-- One trigger of a program, as stored; no row: never stored (off).
select trigger, enabled, kind, days_before, templates::text as templates, version, updated_at
from message_triggers
where program_id = $1 and trigger = $2;

-- name: put_message_trigger
-- Replaces trigger $8 of program $7 ($9 its event type, $10 on, $11 kind, $12 templates, $13 the
-- key, $14 when, $15 a scanned trigger's days ahead) with the answer ($1-$6) in one statement;
-- each replacement numbers a new version, which every message records.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
)
insert into message_triggers (program_id, trigger, event_type, enabled, kind, templates,
                              version, key_id, updated_at, days_before)
select $7, $8, $9, $10, $11, $12::jsonb, 1, $13, $14, $15 from answer
on conflict (program_id, trigger) do update
set event_type = excluded.event_type, enabled = excluded.enabled, kind = excluded.kind,
    templates = excluded.templates, version = message_triggers.version + 1,
    days_before = excluded.days_before,
    key_id = excluded.key_id, updated_at = excluded.updated_at
returning version;

-- name: take_message_events
-- Up to $1 events a trigger wants, not yet turned into messages, locked for this transaction;
-- SKIP LOCKED lets several relays share them.
select id, event_key, program_id, type, payload::text as payload
from message_events
where processed_at is null
order by id
limit $1
for update skip locked;

-- name: message_events_processed
update message_events set processed_at = clock_timestamp() where id = any ($1::bigint[]);

-- name: message_facts
-- What the messages of one event are rendered and decided with: the customer ($1), their
-- addresses and locale (the language their templates are picked in), the balance, the soonest
-- expiry of their points, the consents in force, the program's name and settings, the
-- database clock.
select c.id as customer_id, c.name, c.phone, c.email, c.birthday,
       c.erased_at is not null as erased, c.locale,
       p.name as program_name,
       coalesce(a.posted - a.reserved, 0) as balance,
       (select min(l.expires_at) from lots l
        where l.account_id = a.id and l.open and l.expires_at is not null) as expires_at,
       (select jsonb_object_agg(k.channel, k.granted)::text from (
            select distinct on (channel) channel, granted from customer_consents
            where customer_id = c.id
            order by channel, recorded_at desc, id desc) k) as consents,
       coalesce(s.time_zone, 'Europe/Moscow') as time_zone,
       coalesce(s.quiet_start_minute, 1260) as quiet_start_minute,
       coalesce(s.quiet_end_minute, 540) as quiet_end_minute,
       coalesce(s.daily_cap, 3) as daily_cap,
       clock_timestamp() as now
from customers c
join programs p on p.id = c.program_id
left join accounts a on a.customer_id = c.id
left join message_settings s on s.program_id = c.program_id
where c.id = $1;

-- name: scan_expiring_lots
-- The daily scan of points_expiring: every open, active lot of a program whose trigger is on
-- that expires within the trigger's days_before becomes an event, once per lot and threshold
-- (the event key holds both, and is unique). $1 bounds one pass; the scan repeats until a pass
-- finds nothing new.
with found as (
    select 'lot:' || l.id || ':' || t.days_before || 'd' as event_key, l.program_id,
           jsonb_build_object('customer_id', a.customer_id::text, 'lot_id', l.id::text,
                              'points', l.remaining, 'expires_at', l.expires_at) as payload
    from message_triggers t
    join lots l on l.program_id = t.program_id and l.open and l.remaining > 0
        and l.expires_at > clock_timestamp()
        and l.expires_at <= clock_timestamp() + make_interval(days => t.days_before)
        and l.activates_at <= clock_timestamp()
    join accounts a on a.id = l.account_id and a.customer_id is not null
    where t.trigger = 'points_expiring' and t.enabled
      and not exists (
          select 1 from message_events e
          where e.event_key = 'lot:' || l.id || ':' || t.days_before || 'd'
      )
    limit $1
)
insert into message_events (event_key, program_id, type, payload)
select event_key, program_id, 'points.expiring', payload from found
on conflict (event_key) do nothing
returning id;

-- name: birthday_triggers
-- The programs whose birthday trigger is on: how far ahead it looks, in which zone, and now.
select t.program_id, t.days_before, coalesce(s.time_zone, 'Europe/Moscow') as time_zone,
       clock_timestamp() as now
from message_triggers t
left join message_settings s on s.program_id = t.program_id
where t.trigger = 'birthday' and t.enabled;

-- name: scan_birthdays
-- Program $1's customers born on one of the days $2 (MM-DD) whose birthday falls in year $3 (the
-- same position), each an event once per year; at most $4 in one pass.
with found as (
    select 'birthday:' || c.id || ':' || d.year as event_key, c.program_id,
           jsonb_build_object('customer_id', c.id::text, 'birthday_year', d.year) as payload
    from customers c
    join unnest($2::text[], $3::int[]) as d (born, year) on to_char(c.birthday, 'MM-DD') = d.born
    where c.program_id = $1 and c.birthday is not null and c.erased_at is null
      and c.merged_into is null
      and not exists (
          select 1 from message_events e where e.event_key = 'birthday:' || c.id || ':' || d.year
      )
    limit $4
)
insert into message_events (event_key, program_id, type, payload)
select event_key, program_id, 'customer.birthday', payload from found
on conflict (event_key) do nothing
returning id;

-- name: scan_welcomes
-- Customers enrolled at least $2 seconds ago (a till records consent just after the enrollment),
-- within the last day, and no earlier than $3 seconds before their program's welcome trigger was
-- last stored (so a replaced wording misses nobody the relay had not greeted yet), each an event
-- once; at most $1 in one pass. Customers carried over by bonus import were not enrolled here:
-- they are not greeted.
with found as (
    select 'welcome:' || c.id as event_key, c.program_id,
           jsonb_build_object('customer_id', c.id::text) as payload
    from message_triggers t
    join customers c on c.program_id = t.program_id
        and c.created_at >= t.updated_at - make_interval(secs => $3)
        and c.created_at >= clock_timestamp() - interval '1 day'
        and c.created_at <= clock_timestamp() - make_interval(secs => $2)
    where t.trigger = 'welcome' and t.enabled and c.erased_at is null and c.merged_into is null
      and not c.imported
      and not exists (select 1 from message_events e where e.event_key = 'welcome:' || c.id)
    limit $1
)
insert into message_events (event_key, program_id, type, payload)
select event_key, program_id, 'customer.enrolled', payload from found
on conflict (event_key) do nothing
returning id;

-- name: lock_customer_messages
-- One customer's messages are decided by one relay at a time (to the transaction's end), so two
-- relays never count the same day's messages against the cap at once.
select pg_advisory_xact_lock(hashtextextended($1::uuid::text, 23));

-- name: event_triggers
-- The enabled triggers of program $1 that answer event type $2.
select trigger, kind, days_before, templates::text as templates, version
from message_triggers
where program_id = $1 and event_type = $2 and enabled
order by trigger;

-- name: marketing_counted
-- Marketing messages customer $1 was sent or has queued on each channel since $2 (the local
-- midnight): what the daily cap counts.
select channel, count(*) as counted from messages
where customer_id = $1 and kind = 'marketing' and state in ('queued', 'sent')
  and created_at >= $2
group by channel;

-- name: operation_store
-- The store an operation was made at (a template's {{ store }}).
select store_id from operations where id = $1;

-- name: insert_message
-- A message of one trigger event on one channel; the unique (trigger, event_key, channel)
-- makes a second one for the same event write nothing. $15: the campaign that made it, if any.
insert into messages (program_id, customer_id, channel, kind, trigger, event_key,
                      template_version, locale, recipient, subject, body, state, reason,
                      next_attempt_at, campaign_id)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
on conflict (trigger, event_key, channel) do nothing
returning id;

-- name: lease_messages
-- Up to $1 due queued messages, each leased for $2 seconds: its next attempt moves past the
-- lease, so no other relay takes it meanwhile, and one that dies leaves it due again. Each
-- comes with its program's zone and quiet window as they are now, and the clock, so that a
-- marketing message leased inside quiet hours (settings changed since it was queued) is put
-- back rather than sent.
with due as (
    select m.id, coalesce(s.time_zone, 'Europe/Moscow') as time_zone,
           coalesce(s.quiet_start_minute, 1260) as quiet_start_minute,
           coalesce(s.quiet_end_minute, 540) as quiet_end_minute
    from messages m
    left join message_settings s on s.program_id = m.program_id
    where m.state = 'queued' and m.next_attempt_at <= clock_timestamp()
    order by m.next_attempt_at
    limit $1
    for update of m skip locked
)
update messages m
set attempts = m.attempts + 1, next_attempt_at = clock_timestamp() + make_interval(secs => $2)
from due where m.id = due.id
returning m.id, m.program_id, m.customer_id, m.channel, m.kind, m.recipient, m.subject, m.body,
          m.attempts, due.time_zone, due.quiet_start_minute, due.quiet_end_minute,
          clock_timestamp() as now;

-- name: defer_messages
-- Leased messages ($1) put back until the end of the quiet hours they were leased in ($2, one
-- time each): no attempt was made, so the one the lease counted is taken back.
update messages m
set next_attempt_at = d.until, attempts = m.attempts - 1
from unnest($1::bigint[], $2::timestamptz[]) as d (id, until)
where m.id = d.id and m.state = 'queued' and m.attempts > 0;

-- name: message_sent
-- Message $1 handed to its provider as $2. One whose campaign was cancelled while it was
-- being sent is marked sent all the same: it was.
update messages
set state = 'sent', sent_at = clock_timestamp(), provider_id = $2, reason = null
where id = $1
  and (state = 'queued' or (state = 'suppressed' and reason = 'campaign_cancelled'));

-- name: retry_facts
-- What the retry of queued message $1 is timed with: its program's zone and quiet window now,
-- and the database clock; the row is locked for the update that follows.
select coalesce(s.time_zone, 'Europe/Moscow') as time_zone,
       coalesce(s.quiet_start_minute, 1260) as quiet_start_minute,
       coalesce(s.quiet_end_minute, 540) as quiet_end_minute,
       clock_timestamp() as now
from messages m
left join message_settings s on s.program_id = m.program_id
where m.id = $1 and m.state = 'queued'
for update of m;

-- name: message_failed
-- A failed attempt ($3 why): retried at $2 (the backoff, moved past quiet hours by the core),
-- or failed once $4 attempts have failed.
update messages
set state = case when attempts >= $4 then 'failed' else 'queued' end,
    next_attempt_at = $2,
    reason = left($3, 200)
where id = $1 and state = 'queued'
returning state;

-- name: purge_messages
-- Up to $2 messages sent, failed or suppressed more than $1 seconds ago, oldest first (index
-- messages_settled); a queued message is never purged. The daily cap counts only today's. A
-- campaign's messages are kept: its figures (sent, suppressed, failed) are counted from them.
with old as (
    select id from messages
    where state <> 'queued' and campaign_id is null
      and created_at < clock_timestamp() - make_interval(secs => $1)
    order by created_at
    limit $2
    for update skip locked
)
delete from messages m using old where m.id = old.id;

-- name: purge_message_events
-- Up to $2 events turned into messages more than $1 seconds ago, oldest first (index
-- message_events_processed), each only once no scan could make its key again, since the key is
-- what makes a scan tell a thing once: an outbox event is handed over once by the fan-out's
-- mark, a campaign's member once by the statement that settles it; a welcome scan looks back
-- one day; a birthday scan looks at most 3 days ahead in the program's zone, so a year's key is
-- made again by nobody once that year is over everywhere; a lot is found only before it expires
-- (a lot's expiry never changes). A key of another kind is kept.
with old as (
    select e.id from message_events e
    where e.processed_at < clock_timestamp() - make_interval(secs => $1)
      and (e.event_key like 'outbox:%' or e.event_key like 'campaign:%'
           or (e.event_key like 'welcome:%'
               and e.created_at < clock_timestamp() - interval '1 day')
           or (e.event_key like 'birthday:%'
               and (e.payload ->> 'birthday_year')::int
                   < extract(year from (clock_timestamp() - interval '1 day') at time zone 'UTC'))
           or (e.event_key like 'lot:%'
               and not exists (
                   select 1 from lots l
                   where l.id = (e.payload ->> 'lot_id')::uuid
                     and l.expires_at > clock_timestamp()
               )))
    order by e.processed_at
    limit $2
    for update skip locked
)
delete from message_events e using old where e.id = old.id;

-- name: customer_messages
-- A page of customer $1's messages, newest first, below id $2, at most $3; the recipient as
-- stored is for the console (the API's reply leaves it out).
select id, channel, kind, trigger, event_key, template_version, locale, recipient, subject, body,
       state, reason, attempts, next_attempt_at, provider_id, created_at, sent_at
from messages
where customer_id = $1 and id < $2
order by id desc
limit $3;

-- name: customer_of_program
-- Customer $1's program, if the caller may see it ($2 scopes a program key to its own).
select program_id from customers
where id = $1 and ($2::uuid is null or program_id = $2);

-- name: unsubscribe
-- Withdraws customer $2's consent on channel $3 through an unsubscribe link (consent entry $1),
-- when the consent in force there is given; nothing when it is not (a second click).
insert into customer_consents (id, program_id, customer_id, channel, granted, source, recorded_at)
select $1, c.program_id, c.id, $3, false, 'unsubscribe', clock_timestamp()
from customers c
where c.id = $2 and (
    select k.granted from customer_consents k
    where k.customer_id = c.id and k.channel = $3
    order by k.recorded_at desc, k.id desc
    limit 1
) is true
returning id;
