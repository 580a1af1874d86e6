-- Partner channels: a program's connection to a partner account, and the inbox its events land
-- in. A receiver verifies an event and stores it here once per the partner's own event id (a
-- redelivery is a no-op), then answers at once; the channel worker leases due events with
-- FOR UPDATE SKIP LOCKED (the lease pushes the next attempt past itself, so an event a killed
-- worker held comes due again), hands each to its partner's handler, and retries with backoff.
create table channel_connections (
    id uuid primary key,
    program_id uuid not null references programs (id),
    partner text not null check (partner in ('bitrix24', 'retailcrm', 'shopify', 'woocommerce')),
    -- The partner's own name for the account: a portal's member_id, a shop's domain, a site URL.
    account text not null check (length(account) between 1 and 255),
    -- The channel acts as its own API key: operations name it, idempotency keys are scoped to it.
    key_id uuid not null references api_keys (id),
    -- Signing secrets and tokens (needed in clear to verify and to call); never shown back.
    secrets jsonb not null default '{}' check (jsonb_typeof(secrets) = 'object'),
    settings jsonb not null default '{}' check (jsonb_typeof(settings) = 'object'),
    active boolean not null default true,
    created_at timestamptz not null default clock_timestamp(),
    unique (partner, account)
);
create index channel_connections_program on channel_connections (program_id);

create table channel_inbox (
    id bigint generated always as identity primary key,
    connection_id uuid not null references channel_connections (id),
    event_key text not null check (length(event_key) between 1 and 300),
    topic text not null check (length(topic) between 1 and 200),
    payload jsonb not null,
    status text not null default 'pending' check (status in ('pending', 'done', 'dead')),
    attempts integer not null default 0 check (attempts >= 0),
    next_attempt_at timestamptz not null default clock_timestamp(),
    last_error text check (length(last_error) <= 500),
    received_at timestamptz not null default clock_timestamp(),
    processed_at timestamptz,
    unique (connection_id, event_key),
    check ((status = 'pending') = (processed_at is null))
);
create index channel_inbox_due on channel_inbox (next_attempt_at) where status = 'pending';
create index channel_inbox_dead on channel_inbox (connection_id) where status = 'dead';
