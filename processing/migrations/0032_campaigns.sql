-- Campaigns (decision 0024): a bulk bonus accrual over a segment's members as they were when
-- the campaign started. The members are snapshotted once, with the campaign's start, and each
-- is then accrued through the ledger's accrual under the key that created the campaign, with
-- an idempotency key and a document id of its own (campaign:<id>:<customer>): a worker killed
-- mid-run and started again replays the ledger's stored answer instead of accruing twice.
create table campaigns (
    id uuid primary key,
    program_id uuid not null references programs (id),
    segment_id uuid not null references segments (id),
    key_id uuid not null,
    name text not null check (length(name) between 1 and 200),
    points bigint not null check (points > 0),
    expires_at timestamptz,
    expiry_days integer check (expiry_days > 0),
    reason text not null check (length(reason) between 1 and 500),
    starts_at timestamptz not null,
    state text not null check (state in ('scheduled', 'running', 'finished', 'cancelled')),
    members integer,
    created_at timestamptz not null default clock_timestamp(),
    started_at timestamptz,
    finished_at timestamptz,
    check (expires_at is null or expiry_days is null),
    check (state not in ('running', 'finished') or members is not null)
);
create index campaigns_due on campaigns (starts_at) where state in ('scheduled', 'running');
create index campaigns_of_program on campaigns (program_id, created_at desc, id desc);

-- One row per member of the snapshot: pending until the worker has its accrual's answer, then
-- accrued (with the operation), skipped (the ledger refused it: a blocked account) or failed
-- (its accrual raised ``attempts`` times).
create table campaign_members (
    campaign_id uuid not null references campaigns (id),
    customer_id uuid not null references customers (id),
    state text not null default 'pending'
        check (state in ('pending', 'accrued', 'skipped', 'failed')),
    why text check (length(why) <= 100),
    attempts integer not null default 0 check (attempts >= 0),
    operation_id uuid,
    done_at timestamptz,
    primary key (campaign_id, customer_id),
    check ((state = 'pending') = (done_at is null)),
    check (state not in ('skipped', 'failed') or why is not null)
);
create index campaign_members_pending on campaign_members (campaign_id, customer_id)
    where state = 'pending';
