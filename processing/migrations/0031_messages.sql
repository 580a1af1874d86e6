-- Trigger messages (decision 0023): what a program tells its customers when something happens
-- to their points, and every message it sent or chose not to send.
--
-- A program's messaging settings: the time zone its quiet hours are read in, the quiet hours
-- themselves (minutes after local midnight; start = end means none) and how many marketing
-- messages one customer may get on one channel per local day.
create table message_settings (
    program_id uuid primary key references programs (id),
    time_zone text not null default 'Europe/Moscow' check (length(time_zone) between 1 and 64),
    quiet_start_minute integer not null default 1260 check (quiet_start_minute between 0 and 1439),
    quiet_end_minute integer not null default 540 check (quiet_end_minute between 0 and 1439),
    daily_cap integer not null default 3 check (daily_cap between 0 and 100),
    updated_at timestamptz not null default clock_timestamp()
);

-- One trigger of a program (points_accrued, ...): on or off, marketing or transactional, and
-- its templates per channel and locale. Replaced in place; every replacement is a new version,
-- and a message records the version it was rendered from.
create table message_triggers (
    program_id uuid not null references programs (id),
    trigger text not null check (trigger ~ '^[a-z_]{1,40}$'),
    -- The outbox event type the trigger answers: the outbox fan-out joins on it.
    event_type text not null check (length(event_type) between 1 and 64),
    enabled boolean not null,
    kind text not null check (kind in ('transactional', 'marketing')),
    -- For a trigger a daily scan fires (points_expiring): how many days ahead it looks.
    days_before integer check (days_before between 1 and 365),
    templates jsonb not null check (jsonb_typeof(templates) = 'array'),
    version integer not null check (version >= 1),
    key_id uuid references api_keys (id),
    updated_at timestamptz not null default clock_timestamp(),
    primary key (program_id, trigger)
);
create index message_triggers_wanted on message_triggers (program_id, event_type) where enabled;

-- Events a trigger of their program wants: outbox events, handed over by the outbox fan-out in
-- the same statement that marks the event relayed (event_key outbox:{id}), and those the daily
-- scans find (a lot about to expire: lot:{id}:{days}d). The message step turns each into
-- messages once; the unique key makes a scan that runs twice find nothing new.
create table message_events (
    id bigint generated always as identity primary key,
    event_key text not null unique check (length(event_key) between 1 and 200),
    outbox_id bigint references outbox (id),
    program_id uuid not null references programs (id),
    type text not null,
    payload jsonb not null,
    created_at timestamptz not null default clock_timestamp(),
    processed_at timestamptz
);
create index message_events_due on message_events (id) where processed_at is null;

-- Every message: queued (due at next_attempt_at), sent, failed after its last attempt, or
-- suppressed (no consent, the frequency cap, no address) and why. One trigger event makes at
-- most one message per channel: (trigger, event_key, channel) is unique.
create table messages (
    id bigint generated always as identity primary key,
    program_id uuid not null references programs (id),
    customer_id uuid not null references customers (id),
    channel text not null check (channel in ('sms', 'email')),
    kind text not null check (kind in ('transactional', 'marketing')),
    trigger text not null check (length(trigger) between 1 and 40),
    event_key text not null check (length(event_key) between 1 and 200),
    template_version integer not null,
    locale text not null,
    recipient text,
    subject text check (length(subject) <= 1000),
    body text not null check (length(body) <= 20000),
    state text not null check (state in ('queued', 'sent', 'failed', 'suppressed')),
    reason text check (length(reason) <= 200),
    attempts integer not null default 0 check (attempts >= 0),
    next_attempt_at timestamptz not null default clock_timestamp(),
    provider_id text check (length(provider_id) <= 200),
    created_at timestamptz not null default clock_timestamp(),
    sent_at timestamptz,
    unique (trigger, event_key, channel),
    check ((state = 'sent') = (sent_at is not null)),
    check (state not in ('failed', 'suppressed') or reason is not null)
);
create index messages_due on messages (next_attempt_at) where state = 'queued';
create index messages_of_customer on messages (customer_id, created_at desc, id desc);
