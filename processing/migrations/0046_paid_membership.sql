-- Paid membership (decision 0035): levels a program sells for a period, customers'
-- memberships (one chain of paid periods each) and the membership money: what each purchase,
-- renewal and cancellation's refund took or gave back, in the program's currency and minor
-- units. Membership money is revenue the program collected, not a stored value anyone can
-- spend, so it is a payments table, never points entries or money-ledger entries.

create table membership_levels (
    id uuid primary key,
    program_id uuid not null references programs (id),
    name text not null check (length(name) between 1 and 200),
    price_minor bigint not null check (price_minor > 0),
    currency text not null check (currency ~ '^[A-Z]{3}$'),
    period text not null check (period in ('month', 'year')),
    grace_days integer not null check (grace_days >= 0),
    earn_bp integer not null check (earn_bp between 0 and 10000),
    earn_mode text not null check (earn_mode in ('replace', 'add')),
    discount_bp integer not null check (discount_bp between 0 and 10000),
    free_delivery boolean not null,
    cancellation text not null check (cancellation in ('no_refund', 'pro_rata')),
    key_id uuid,
    created_at timestamptz not null,
    unique (program_id, name)
);
create index membership_levels_by_creation on membership_levels (program_id, created_at, id);

-- A membership's periods run from anchor_at; ends_at and grace_ends_at are the current
-- period's end and its grace's, derived by the core and kept for the sweep's index and the
-- checkout's read. status is what the sweep (or a cancellation) last wrote; privileges follow
-- the timestamps, so a late sweep never lets a lapsed membership give anything.
create table memberships (
    id uuid primary key,
    program_id uuid not null references programs (id),
    customer_id uuid not null references customers (id),
    level_id uuid not null references membership_levels (id),
    anchor_at timestamptz not null,
    periods integer not null check (periods >= 1),
    ends_at timestamptz not null,
    grace_ends_at timestamptz not null check (grace_ends_at >= ends_at),
    status text not null check (status in ('active', 'grace', 'lapsed', 'cancelled')),
    cancelled_at timestamptz,
    refund_minor bigint check (refund_minor >= 0),
    version integer not null default 1,
    created_at timestamptz not null,
    check ((status = 'cancelled') = (cancelled_at is not null))
);
-- One membership in force per customer: a second purchase is refused, two at once write one.
create unique index memberships_in_force on memberships (customer_id)
    where status in ('active', 'grace');
create index memberships_due on memberships (grace_ends_at) where status in ('active', 'grace');
create index memberships_grace_due on memberships (ends_at) where status = 'active';

create table membership_payments (
    id uuid primary key,
    program_id uuid not null references programs (id),
    membership_id uuid not null references memberships (id),
    type text not null check (type in ('purchase', 'renewal', 'refund')),
    amount_minor bigint not null check (amount_minor >= 0),
    currency text not null check (currency ~ '^[A-Z]{3}$'),
    period_starts_at timestamptz not null,
    period_ends_at timestamptz not null check (period_ends_at > period_starts_at),
    channel text not null,
    store_id text,
    document_id text not null check (length(document_id) between 1 and 128),
    key_id uuid,
    created_at timestamptz not null,
    -- A document pays for one membership operation: the same cheque twice is refused.
    unique (program_id, type, document_id)
);
create index membership_payments_of on membership_payments (membership_id, created_at);
