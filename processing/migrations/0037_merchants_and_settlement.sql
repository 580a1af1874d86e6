-- Coalition settlement (decision 0026): a program's merchants (legal entities), which stores
-- each one has had and when, and the settlement statements that close a period between them.
--
-- A merchant of a program. Its name is what operators see; the legal name and the tax id (an
-- INN: 10 digits for an organisation, 12 for an individual entrepreneur) are optional.
create table merchants (
    id uuid primary key,
    program_id uuid not null references programs (id),
    name text not null check (length(name) between 1 and 200),
    legal_name text check (length(legal_name) between 1 and 300),
    tax_id text check (tax_id ~ '^([0-9]{10}|[0-9]{12})$'),
    key_id uuid references api_keys (id),
    created_at timestamptz not null,
    unique (program_id, id)
);
create index merchants_of_program on merchants (program_id, created_at desc, id desc);

-- Which merchant a store belonged to, and from when until when: an assignment is ended, never
-- changed otherwise, so a statement of a past period reads each operation's store as it was
-- assigned when the operation was made. A store has at most one open assignment at a time; a
-- store with none belongs to the program itself (the "unassigned" side of a statement).
create table merchant_stores (
    id uuid primary key,
    program_id uuid not null,
    merchant_id uuid not null,
    store_id text not null check (length(store_id) between 1 and 128),
    assigned_at timestamptz not null,
    unassigned_at timestamptz,
    assigned_by uuid references api_keys (id),
    unassigned_by uuid references api_keys (id),
    foreign key (program_id, merchant_id) references merchants (program_id, id),
    check (unassigned_at is null or unassigned_at >= assigned_at)
);
create unique index merchant_stores_open on merchant_stores (program_id, store_id)
    where unassigned_at is null;
create index merchant_stores_of_merchant on merchant_stores (merchant_id, assigned_at desc, id desc)
    where unassigned_at is null;
create index merchant_stores_history on merchant_stores (program_id, store_id, assigned_at);

-- A settlement statement closes the period [starts_at, ends_at) of its program: the dates are
-- the program's local days (from, to), read in its time zone when it was closed. Written once,
-- with its totals and lines, and never changed or removed (the trigger below), so what a
-- merchant was told it owes stays what it owes.
create table settlement_statements (
    id uuid primary key,
    program_id uuid not null references programs (id),
    period_from date not null,
    period_to date not null,
    time_zone text not null check (length(time_zone) between 1 and 64),
    starts_at timestamptz not null,
    ends_at timestamptz not null,
    currency text not null check (currency ~ '^[A-Z]{3}$'),
    lines integer not null check (lines >= 0),
    key_id uuid references api_keys (id),
    created_at timestamptz not null,
    check (period_from < period_to),
    check (starts_at < ends_at)
);
create index settlement_statements_of_program
    on settlement_statements (program_id, created_at desc, id desc);
create index settlement_statements_period on settlement_statements (program_id, starts_at);

-- A party's totals in a statement: a merchant, or the program itself (merchant_id null) for
-- stores of no merchant and operations of no store. Receivable: points redeemed at its stores
-- that other parties earned; payable: points it earned that other parties redeemed; net is
-- receivable less payable, and the nets of a statement sum to zero. A refund in this period of
-- a redemption settled in an earlier one counts here, so a sum may be below zero.
create table settlement_totals (
    statement_id uuid not null references settlement_statements (id),
    position integer not null check (position >= 0),
    merchant_id uuid references merchants (id),
    merchant_name text,
    receivable_points bigint not null,
    payable_points bigint not null,
    receivable_minor numeric not null,
    payable_minor numeric not null,
    net_minor numeric not null,
    primary key (statement_id, position),
    check (net_minor = receivable_minor - payable_minor)
);

-- One line of a statement: what one operation (a redemption, or a refund giving redeemed
-- points back: negative points) moved between the party that earned the points and the party
-- whose store redeemed them, valued at the point value its rules version had.
create table settlement_lines (
    statement_id uuid not null references settlement_statements (id),
    position integer not null check (position >= 0),
    operation_id uuid not null references operations (id),
    operation_type text not null,
    refund_of uuid references operations (id),
    created_at timestamptz not null,
    store_id text,
    merchant_id uuid references merchants (id),
    earning_store_id text,
    earning_merchant_id uuid references merchants (id),
    points bigint not null check (points <> 0),
    point_value_minor bigint not null check (point_value_minor > 0),
    money_minor numeric not null,
    primary key (statement_id, position),
    check (money_minor = points * point_value_minor),
    check (merchant_id is distinct from earning_merchant_id)
);
create index settlement_lines_earning on settlement_lines (statement_id, earning_merchant_id);
create index settlement_lines_redeeming on settlement_lines (statement_id, merchant_id);

create trigger settlement_statements_immutable before update or delete on settlement_statements
    for each row execute function refuse_row_change();
create trigger settlement_totals_immutable before update or delete on settlement_totals
    for each row execute function refuse_row_change();
create trigger settlement_lines_immutable before update or delete on settlement_lines
    for each row execute function refuse_row_change();
create trigger settlement_statements_no_truncate before truncate on settlement_statements
    for each statement execute function refuse_row_change();
create trigger settlement_totals_no_truncate before truncate on settlement_totals
    for each statement execute function refuse_row_change();
create trigger settlement_lines_no_truncate before truncate on settlement_lines
    for each statement execute function refuse_row_change();

-- A statement reads the operations that redeemed points, and the refunds, of one period.
create index operations_settled on operations (program_id, created_at)
    where type in ('commit', 'refund') or (type = 'purchase' and redeemed_points > 0);

-- A key may belong to a merchant: it then reads settlement and liability only as far as they
-- concern its merchant, and operations only of its merchant's stores.
alter table api_keys add column merchant_id uuid references merchants (id);

-- The merchant store $2 of program $1 belonged to at $3; null for a store of no merchant then,
-- and for no store at all: the program's own side.
create function store_merchant(program uuid, store text, at timestamptz) returns uuid
language sql stable as $$
    select merchant_id from merchant_stores
    where program_id = program and store_id = store and assigned_at <= at
      and (unassigned_at is null or unassigned_at > at)
    order by assigned_at desc
    limit 1
$$;
