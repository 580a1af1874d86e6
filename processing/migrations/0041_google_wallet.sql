-- Google Wallet (decision 0030): a program's issuer settings, and one loyalty object per card
-- that a "Save to Google Wallet" link was made for, kept current by the worker.

-- One row per program that issues Google Wallet cards. The service account's private key is
-- sealed (decision 0004, context google-wallet:<program id>) and never shown again.
create table google_wallet_settings (
    program_id uuid primary key references programs (id),
    issuer_id text not null check (issuer_id ~ '^[0-9]{1,19}$'),
    service_account_email text not null check (length(service_account_email) between 3 and 254),
    private_key_sealed text not null,
    program_name text not null check (length(program_name) between 1 and 100),
    logo_url text not null check (length(logo_url) between 9 and 2000),
    background_color text check (background_color ~ '^#[0-9a-f]{6}$'),
    origins text[] not null default '{}' check (cardinality(origins) <= 10),
    key_id uuid references api_keys (id),
    updated_at timestamptz not null default clock_timestamp()
);

-- A card's loyalty object at Google. `changes` counts what moved the card (its customer's
-- balance or tier, the card's status: bumped by the outbox relay's fan-out and by a card's
-- block or unblock), `synced` the last count the worker patched; the object is due while
-- changes > synced and its next attempt is due. A row is written before the object is
-- inserted at Google (inserted_at is set after), so a change made meanwhile is never missed.
create table google_wallet_objects (
    program_id uuid not null,
    card_number text not null,
    object_id text not null unique,
    class_id text not null,
    changes bigint not null default 0,
    synced bigint not null default 0 check (synced <= changes),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default clock_timestamp(),
    last_status integer,
    last_error text check (length(last_error) <= 500),
    inserted_at timestamptz,
    patched_at timestamptz,
    created_at timestamptz not null default clock_timestamp(),
    primary key (program_id, card_number),
    foreign key (program_id, card_number) references cards (program_id, number)
);
-- The worker's queue: objects with a change not yet patched, by when they are due.
create index google_wallet_objects_due on google_wallet_objects (next_attempt_at)
    where changes > synced and inserted_at is not null;
