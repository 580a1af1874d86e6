-- Promoters (decision 0034): a person or partner who brings customers in by a referral link
-- and its QR code. The promoter's bonus account is a customer record of the program (a
-- promoter who does not shop is still enrolled: that is where their points and SMS go). The
-- customers they bring carry `promoter_id`; the first purchase of such a customer rewards the
-- promoter once (`promoter_rewards`, one row per referred customer), and a full return of that
-- purchase claws the reward back.
create table promoters (
    id uuid primary key,
    program_id uuid not null references programs (id),
    customer_id uuid not null references customers (id),
    name text not null check (length(name) between 1 and 200),
    code text not null check (code ~ '^[A-Z0-9]{4,32}$'),
    reward_points bigint not null default 0 check (reward_points between 0 and 1000000000),
    reward_share_bp integer not null default 0 check (reward_share_bp between 0 and 10000),
    key_id uuid references api_keys (id),
    created_at timestamptz not null default clock_timestamp(),
    unique (program_id, code),
    check (reward_points > 0 or reward_share_bp > 0)
);
create index promoters_list on promoters (program_id, created_at desc, id desc);

alter table customers add column promoter_id uuid references promoters (id);
create index customers_promoter on customers (promoter_id) where promoter_id is not null;

create table promoter_rewards (
    customer_id uuid primary key references customers (id),  -- exactly once per customer
    program_id uuid not null references programs (id),
    promoter_id uuid not null references promoters (id),
    purchase_operation_id uuid not null unique references operations (id),
    reward_operation_id uuid not null unique references operations (id),
    reward_lot_id uuid not null references lots (id),
    points bigint not null check (points > 0),
    clawback_operation_id uuid unique references operations (id),
    created_at timestamptz not null default clock_timestamp()
);
create index promoter_rewards_promoter on promoter_rewards (promoter_id, created_at desc);
