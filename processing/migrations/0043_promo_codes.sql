-- Promo codes (decision 0032): a promo campaign of a program says when, where and on what a
-- code works and what it gives; its codes are what a customer types at the till or the web
-- shop. Caps are counters with CHECKs: the apply that records a purchase adds one to the code's,
-- the campaign's and the customer's counters in the same statement, so a use past a cap fails
-- that statement whole (no purchase, no use) and the purchase is decided again, seeing the cap.
create table promo_campaigns (
    id uuid primary key,
    program_id uuid not null references programs (id),
    key_id uuid not null,
    name text not null check (length(name) between 1 and 200),
    starts_at timestamptz not null,
    ends_at timestamptz,
    channels text[] not null default '{}',  -- empty: every channel
    stores text[] not null default '{}',  -- empty: every store
    min_amount_minor bigint not null default 0 check (min_amount_minor >= 0),
    skus text[] not null default '{}',  -- with categories empty too: every line qualifies
    categories text[] not null default '{}',
    effect text not null
        check (effect in ('bonus_points', 'earn_multiplier_bp', 'extra_bp', 'discount_bp')),
    value bigint not null check (value > 0),
    uses_max bigint check (uses_max > 0),
    uses_per_customer_max integer check (uses_per_customer_max > 0),
    stacking text not null check (stacking in ('stackable', 'exclusive')),
    used bigint not null default 0,
    created_at timestamptz not null,
    constraint promo_campaigns_cap check (uses_max is null or used <= uses_max),
    check (ends_at is null or ends_at > starts_at)
);
create index promo_campaigns_of_program on promo_campaigns (program_id, created_at desc, id desc);

-- A code: shared (one for everyone), one of a batch (single use by default, with a check
-- character), or personal (bound to one customer). Stored upper-case without separators, so
-- a code typed in any case with or without dashes finds it.
create table promo_codes (
    id uuid primary key,
    program_id uuid not null references programs (id),
    campaign_id uuid not null references promo_campaigns (id),
    code text not null check (code ~ '^[A-Z0-9]{3,32}$'),
    kind text not null check (kind in ('shared', 'batch', 'personal')),
    customer_id uuid references customers (id),
    uses_max bigint check (uses_max > 0),
    used bigint not null default 0,
    created_at timestamptz not null,
    constraint promo_codes_cap check (uses_max is null or used <= uses_max),
    check ((kind = 'personal') = (customer_id is not null))
);
create unique index promo_codes_code on promo_codes (program_id, code);
create index promo_codes_of_campaign on promo_codes (campaign_id, created_at, id);

-- A customer's uses of a campaign, against its per-customer cap (copied in at each use).
create table promo_customer_uses (
    campaign_id uuid not null references promo_campaigns (id),
    account_id uuid not null references accounts (id),
    used integer not null,
    uses_max integer,
    primary key (campaign_id, account_id),
    constraint promo_customer_uses_cap check (uses_max is null or used <= uses_max)
);

-- Each use: the purchase that applied the code, the points it gave (part of the lines'
-- earned points, so a return by line takes them back) and the discount the till applied.
create table promo_uses (
    operation_id uuid not null references operations (id),
    code_id uuid not null references promo_codes (id),
    campaign_id uuid not null references promo_campaigns (id),
    program_id uuid not null references programs (id),
    account_id uuid not null references accounts (id),
    points bigint not null check (points >= 0),
    discount_minor bigint not null check (discount_minor >= 0),
    created_at timestamptz not null,
    primary key (operation_id, code_id)
);
create index promo_uses_of_campaign on promo_uses (campaign_id, created_at);
