-- Wallet changes (decision 0029): the outbox relay's fan_out queues one row per outbox event
-- that may change what a customer's wallet passes show (balance.changed, tier.changed) for a
-- customer who holds a pass; the wallet worker builds each of their passes and, where one
-- changed, pushes its registered devices. Named for wallets, not Apple: each row is for one
-- wallet (its own attempts and backoff), so another wallet can queue rows of its own (added
-- to the check) from the same fan-out.
create table wallet_changes (
    id bigint generated always as identity primary key,
    wallet text not null check (wallet in ('apple')),
    program_id uuid not null references programs (id),
    customer_id uuid not null,
    outbox_id bigint,
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default clock_timestamp(),
    created_at timestamptz not null default clock_timestamp()
);
create unique index wallet_changes_once on wallet_changes (wallet, outbox_id);
create index wallet_changes_due on wallet_changes (wallet, next_attempt_at);

-- The tag a device was last pushed for: a device is pushed once per tag its pass moves to.
alter table wallet_device_registrations add column pushed_tag bigint not null default 0;
