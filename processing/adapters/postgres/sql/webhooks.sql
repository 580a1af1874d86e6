-- name: insert_webhook
-- A new subscription; the answer leaves the secret out (the caller already has it).
insert into webhook_subscriptions (id, program_id, url, secret, event_types)
values ($1, $2, $3, $4, $5)
returning id, program_id, url, event_types, active, created_at;

-- name: list_webhooks
-- A program's subscriptions, newest first; the secret is never read back out.
select id, program_id, url, event_types, active, created_at from webhook_subscriptions
where program_id = $1
order by created_at desc, id;

-- name: webhook
-- One subscription as a caller sees it; $2 scopes a program key to its own program (null: an
-- operator key).
select id, program_id, url, event_types, active, created_at from webhook_subscriptions
where id = $1 and ($2::uuid is null or program_id = $2);

-- name: disable_webhook
-- Stops new deliveries to subscription $7, with the answer ($1-$6) stored under its key in the
-- same statement: nothing is written when the key already has an answer.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
)
update webhook_subscriptions set active = false
from answer
where id = $7
returning id;

-- name: webhook_program
-- Which program a subscription belongs to, for the deliveries listing's tenancy check.
select program_id from webhook_subscriptions
where id = $1 and ($2::uuid is null or program_id = $2);

-- name: webhook_places
-- What a subscribe decides on, in one snapshot: the program if the caller may see it ($2 scopes
-- a program key to its own program), its active subscriptions (the cap), the row version that
-- subscribe_webhook checks, and the database clock that stamps the new subscription.
select p.xmin::text::bigint as version,
       (select count(*) from webhook_subscriptions w where w.program_id = p.id and w.active)
           as active,
       clock_timestamp() as now
from programs p
where p.id = $1 and ($2::uuid is null or p.id = $2);

-- name: subscribe_webhook
-- A new subscription ($9 its id, $10 url, $11 sealed secret, $12 event types, $13 when) of
-- program $7, with the answer ($1-$6) stored under its key in the same statement. The cap was
-- counted on the program row's version $8: the row is locked only if it is still that version
-- and every subscribe bumps it, so of two decided on one count the second writes nothing (its
-- answer included) and is decided again. Nothing is written when the key already has an answer.
with unchanged as (
    select id from programs where id = $7 and xmin::text::bigint = $8 for no key update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from unchanged
    on conflict do nothing
    returning key_id
), bumped as (
    -- A new row version and nothing else: the next subscribe's check sees it.
    update programs set name = name from answer where programs.id = $7
)
insert into webhook_subscriptions (id, program_id, url, secret, event_types, created_at)
select $9, $7, $10, $11, $12, $13 from answer
returning id;

-- name: webhook_deliveries
-- A subscription's deliveries, newest first, one page below the cursor; $3 narrows by status.
select d.id, d.subscription_id, o.event_id, o.type, d.status, d.attempts, d.next_attempt_at,
       d.last_status, d.last_error, d.delivered_at, d.created_at
from webhook_deliveries d join outbox o on o.id = d.outbox_id
where d.subscription_id = $1 and d.id < $2 and ($3::text is null or d.status = $3)
order by d.id desc
limit $4;

-- name: webhook_delivery
-- One delivery's status, if the caller may see it: $2 scopes a program key to its own program,
-- $3 (when given) to the subscription an address names, so another's delivery is not found.
select d.status from webhook_deliveries d
join webhook_subscriptions s on s.id = d.subscription_id
where d.id = $1 and ($2::uuid is null or s.program_id = $2)
  and ($3::uuid is null or d.subscription_id = $3);

-- name: redeliver_webhook
-- Delivery $7 goes back to the queue at once with a fresh attempt budget, with the answer
-- ($1-$6) stored under its key in the same statement. The delivery's row is locked first and
-- must still be undelivered (rechecked after the lock): nothing is written, the answer
-- included, when it was delivered since the caller read it or the key already has an answer.
with due as (
    select id from webhook_deliveries where id = $7 and status <> 'delivered' for update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from due
    on conflict do nothing
    returning key_id
)
update webhook_deliveries
set status = 'pending', attempts = 0, next_attempt_at = clock_timestamp()
from answer
where id = $7
returning id;

-- name: fan_out
-- Up to $1 events not yet relayed become one delivery per active subscription that wants them,
-- and are marked relayed, in one statement; SKIP LOCKED lets several relays share the work. A
-- balance.changed of a customer a CRM contact shows also queues that contact's write-back
-- (topic call) in the channel inbox, unless one for the contact is waiting and was never
-- handed out: that one reads the balance when it runs, so it shows this change too. An event a
-- message trigger wants is handed to the message step (message_events). A balance or tier
-- change of a customer with a Google Wallet card makes its object due (decision 0030). An
-- operation whose first event this is goes into the report rollups (decision 0025), under the
-- same mark, so exactly once.
with batch as (
    select id, program_id, operation_id, type, payload from outbox
    where relayed_at is null
    order by id
    limit $1
    for update skip locked
), contacts as (
    insert into channel_inbox (connection_id, event_key, topic, payload)
    select distinct on (shown.connection_id, shown.payload)
           shown.connection_id, shown.event_key, 'call', shown.payload
    from (
        select c.connection_id, b.id,
               'call:contact:' || c.contact_id || ':outbox:' || b.id as event_key,
               jsonb_build_object('refresh_contact', c.contact_id,
                                  'customer_id', c.customer_id::text) as payload
        from batch b
        join channel_contacts c on c.program_id = b.program_id and c.customer_id =
            case when b.type = 'balance.changed' then (b.payload->>'customer_id')::uuid end
        join channel_connections k on k.id = c.connection_id and k.active
    ) as shown
    where not exists (
        select 1 from channel_inbox waiting
        where waiting.connection_id = shown.connection_id and waiting.payload = shown.payload
          and waiting.status = 'pending' and waiting.attempts = 0
    )
    order by shown.connection_id, shown.payload, shown.id
    on conflict (connection_id, event_key) do nothing
), fanned as (
    insert into webhook_deliveries (subscription_id, outbox_id)
    select s.id, b.id
    from batch b
    join webhook_subscriptions s on s.program_id = b.program_id and s.active
        and (cardinality(s.event_types) = 0 or b.type = any (s.event_types))
    on conflict (subscription_id, outbox_id) do nothing
    returning 1
), messaged as (
    -- An event an enabled trigger of its program answers goes to the message step too
    -- (decision 0023), handed over with the same mark that ends its fan-out.
    insert into message_events (event_key, outbox_id, program_id, type, payload)
    select 'outbox:' || b.id, b.id, b.program_id, b.type, b.payload
    from batch b
    where exists (
        select 1 from message_triggers t
        where t.program_id = b.program_id and t.event_type = b.type and t.enabled
    )
    on conflict (event_key) do nothing
), wallets as (
    -- A balance or tier change of a customer whose card has a Google Wallet object makes the
    -- object due (decision 0030): counted once per batch, patched by the worker with the
    -- values it reads then. An object already due keeps its place (and its backoff).
    update google_wallet_objects o
    set changes = o.changes + 1,
        next_attempt_at = case when o.changes = o.synced then clock_timestamp()
                               else o.next_attempt_at end
    from (
        select distinct k.program_id, k.number
        from batch b
        join cards k on k.customer_id = (b.payload->>'customer_id')::uuid
            and k.program_id = b.program_id
        where b.type in ('balance.changed', 'tier.changed')
    ) as moved
    where o.program_id = moved.program_id and o.card_number = moved.number
), apple_passes as (
    -- A change a customer's Apple Wallet passes may show goes to the wallet worker (decision
    -- 0029) as a wallet change, for customers who hold a pass, under the same mark.
    insert into wallet_changes (wallet, program_id, customer_id, outbox_id)
    select 'apple', b.program_id, (b.payload->>'customer_id')::uuid, b.id
    from batch b
    where b.type in ('balance.changed', 'tier.changed')
      and exists (
          select 1 from wallet_passes p
          join cards c on c.program_id = p.program_id and c.number = p.card_number
          where c.program_id = b.program_id and c.customer_id = (b.payload->>'customer_id')::uuid
      )
    on conflict (wallet, outbox_id) do nothing
), announced as (
    -- The operations whose first event is in this batch: the report rollups take each of them
    -- once, here (decisions 0025, 0027).
    select array(
        select b.operation_id from batch b
        where b.operation_id is not null
          and b.id = (select min(x.id) from outbox x where x.operation_id = b.operation_id)
    ) as ids
), rolled as (
    select report_roll_up(ids) as operations from announced
), rolled_customers as (
    -- The purchase rollups and customer sets, after the points rollups (read from `rolled`),
    -- in the order a rebuild locks them.
    select report_roll_up_customers(announced.ids) as operations from announced, rolled
)
update outbox set relayed_at = clock_timestamp()
from batch where outbox.id = batch.id
returning (select count(*) from fanned) as deliveries, (select operations from rolled) as rolled,
          (select operations from rolled_customers) as rolled_customers;

-- name: lease_deliveries
-- Up to $1 due deliveries, each leased for $2 seconds: its next attempt moves past the lease,
-- so no other relay takes it meanwhile, and a relay that dies leaves it due again afterwards.
with due as (
    select id from webhook_deliveries
    where status = 'pending' and next_attempt_at <= clock_timestamp()
    order by next_attempt_at
    limit $1
    for update skip locked
), leased as (
    update webhook_deliveries d
    set attempts = d.attempts + 1,
        next_attempt_at = clock_timestamp() + make_interval(secs => $2)
    from due where d.id = due.id
    returning d.id, d.subscription_id, d.outbox_id, d.attempts
)
select l.id, l.attempts, l.subscription_id, s.url, s.secret, o.event_id, o.type, o.program_id,
       o.payload::text as payload, o.created_at
from leased l
join webhook_subscriptions s on s.id = l.subscription_id
join outbox o on o.id = l.outbox_id;

-- name: delivery_succeeded
update webhook_deliveries
set status = 'delivered', delivered_at = clock_timestamp(), last_status = $2, last_error = null
where id = $1 and status = 'pending';

-- name: delivery_failed
-- A failed attempt: retried after $2 seconds, or dead once $3 attempts have failed.
update webhook_deliveries
set status = case when attempts >= $3 then 'dead' else 'pending' end,
    next_attempt_at = clock_timestamp() + make_interval(secs => $2),
    last_status = $4, last_error = left($5, 500)
where id = $1 and status = 'pending'
returning status;

-- name: relay_backlog
-- For metrics and alerts: events waiting to be fanned out and deliveries waiting to be sent.
select (select count(*) from outbox where relayed_at is null) as unrelayed,
       (select count(*) from webhook_deliveries where status = 'pending') as pending,
       (select count(*) from webhook_deliveries where status = 'dead') as dead;
