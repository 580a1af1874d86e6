-- Webhooks: a program's subscriptions, and the delivery of each outbox event to each of them.
-- The relay first fans an event out (one delivery row per matching subscription, and the event
-- marked relayed, in one transaction), then delivers: a worker leases due rows by pushing their
-- next attempt past the lease, so a worker killed mid-delivery only delays the row until the
-- lease runs out and another worker takes it (at least once, never lost).
alter table outbox rename column delivered_at to relayed_at;
-- The event's stable id, sent as webhook-id on every attempt so receivers can deduplicate.
alter table outbox add column event_id uuid not null default gen_random_uuid() unique;

create table webhook_subscriptions (
    id uuid primary key,
    program_id uuid not null references programs (id),
    url text not null check (url ~ '^https?://[^\s]+$' and length(url) <= 2000),
    -- The signing secret: kept as is because every delivery is signed with it; shown once.
    secret text not null check (length(secret) between 16 and 200),
    -- Outbox event types (operation.accrual, ...); empty means every event.
    event_types text[] not null default '{}' check (cardinality(event_types) <= 50),
    active boolean not null default true,
    created_at timestamptz not null default clock_timestamp()
);
create index webhook_subscriptions_program on webhook_subscriptions (program_id) where active;

create table webhook_deliveries (
    id bigint generated always as identity primary key,
    subscription_id uuid not null references webhook_subscriptions (id),
    outbox_id bigint not null references outbox (id),
    status text not null default 'pending' check (status in ('pending', 'delivered', 'dead')),
    attempts integer not null default 0 check (attempts >= 0),
    next_attempt_at timestamptz not null default clock_timestamp(),
    last_status integer,
    last_error text check (length(last_error) <= 500),
    delivered_at timestamptz,
    created_at timestamptz not null default clock_timestamp(),
    unique (subscription_id, outbox_id),
    check ((status = 'delivered') = (delivered_at is not null))
);
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_of on webhook_deliveries (subscription_id, id desc);
