-- The ledger: programs, keys, customers and cards, accounts, lots, holds, operations, entries,
-- idempotency records and the outbox. The database enforces every rule it can express
-- (CHECK, UNIQUE, foreign keys, triggers); the code asserts the rest.

create table programs (
    id uuid primary key,
    name text not null check (length(name) between 1 and 200),
    currency text not null check (currency ~ '^[A-Z]{3}$'),
    country text not null check (country ~ '^[A-Z]{2}$'),
    hold_ttl_seconds_default integer not null,
    hold_ttl_seconds_max integer not null check (hold_ttl_seconds_max <= 604800),
    expiry_days integer check (expiry_days between 1 and 3650),
    created_at timestamptz not null default clock_timestamp(),
    check (hold_ttl_seconds_default between 10 and hold_ttl_seconds_max)
);

create table api_keys (
    id uuid primary key,
    -- A key without a program is an operator key across programs; it may only be an admin key.
    program_id uuid references programs (id),
    name text not null check (length(name) between 1 and 200),
    scopes text[] not null
        check (cardinality(scopes) > 0 and scopes <@ array['pos', 'shop', 'crm', 'admin']),
    store_id text check (length(store_id) between 1 and 128),
    secret_sha256 bytea not null unique,
    created_at timestamptz not null default clock_timestamp(),
    revoked_at timestamptz,
    check (program_id is not null or scopes = array['admin'])
);

create table customers (
    id uuid primary key,
    program_id uuid not null references programs (id),
    phone text not null check (phone ~ '^\+[1-9][0-9]{6,14}$'),
    name text check (length(name) <= 200),
    birthday date,
    attributes jsonb not null default '{}' check (jsonb_typeof(attributes) = 'object'),
    created_at timestamptz not null default clock_timestamp(),
    unique (program_id, phone)
);

create table cards (
    program_id uuid not null references programs (id),
    number text not null check (length(number) between 1 and 64),
    customer_id uuid not null references customers (id),
    status text not null check (status in ('active', 'blocked', 'deleted')),
    reason text,
    created_at timestamptz not null default clock_timestamp(),
    updated_at timestamptz not null default clock_timestamp(),
    primary key (program_id, number)
);
create index cards_customer on cards (customer_id);

-- The card journal: every status a card took, why, and which key set it.
create table card_events (
    id bigint generated always as identity primary key,
    program_id uuid not null,
    number text not null,
    status text not null check (status in ('active', 'blocked', 'deleted')),
    reason text,
    key_id uuid references api_keys (id),
    created_at timestamptz not null default clock_timestamp(),
    foreign key (program_id, number) references cards (program_id, number)
);

-- A customer's account shares the customer's id. The program's system accounts (issued,
-- redeemed, expired, adjustments) are the other side of every entry; their balances are never
-- cached, so they never become hot rows.
create table accounts (
    id uuid primary key,
    program_id uuid not null references programs (id),
    kind text not null check (kind in ('customer', 'issued', 'redeemed', 'expired', 'adjustments')),
    customer_id uuid unique references customers (id),
    posted bigint not null default 0,
    reserved bigint not null default 0,
    blocked_reason text,
    created_at timestamptz not null default clock_timestamp(),
    check ((kind = 'customer') = (customer_id is not null)),
    check (kind = 'customer' or (posted = 0 and reserved = 0)),
    check (reserved >= 0 and reserved <= posted)
);
create unique index accounts_system on accounts (program_id, kind) where kind <> 'customer';

create table operations (
    id uuid primary key,
    -- Orders the statement; ids are random, so they cannot.
    seq bigint generated always as identity unique,
    program_id uuid not null references programs (id),
    account_id uuid not null references accounts (id),
    type text not null
        check (type in ('accrual', 'reserve', 'commit', 'cancel', 'refund', 'expire', 'adjustment')),
    points bigint not null,
    -- The only mutable column: raised under the account's row lock by each refund (I6).
    refunded_points bigint not null default 0,
    hold_id uuid,
    refund_of uuid references operations (id),
    document_id text,
    document_name text,
    document_comment text,
    reason text,
    channel text not null,
    key_id uuid references api_keys (id),
    store_id text,
    available_after bigint not null check (available_after >= 0),
    created_at timestamptz not null,
    check (refunded_points between 0 and abs(points)),
    check ((type = 'refund') = (refund_of is not null))
);
create index operations_statement on operations (account_id, seq desc);
create index operations_refunds on operations (refund_of) where refund_of is not null;
-- A business document (receipt, return, CRM deal) applies once, even after its idempotency key
-- is gone (I3).
create unique index operations_document on operations
    (program_id, coalesce(store_id, ''), type, document_id)
    where document_id is not null and type in ('accrual', 'adjustment', 'refund');

create table lots (
    id uuid primary key,
    program_id uuid not null references programs (id),
    account_id uuid not null references accounts (id),
    operation_id uuid not null references operations (id),
    points bigint not null check (points > 0),
    remaining bigint not null,
    held bigint not null default 0,
    activates_at timestamptz not null,
    expires_at timestamptz,
    check (0 <= held and held <= remaining and remaining <= points),
    check (expires_at is null or expires_at > activates_at)
);
create index lots_open on lots (account_id) where remaining > 0;
create index lots_expiring on lots (expires_at) where remaining > held;

create table holds (
    id uuid primary key,
    program_id uuid not null references programs (id),
    account_id uuid not null references accounts (id),
    operation_id uuid not null references operations (id),
    points bigint not null check (points > 0),
    status text not null check (status in ('active', 'committed', 'cancelled', 'expired')),
    committed_points bigint,
    expires_at timestamptz not null,
    store_id text,
    document_id text not null,
    created_at timestamptz not null,
    resolved_at timestamptz,
    resolved_by uuid references operations (id),
    check ((status = 'active') = (resolved_at is null)),
    check ((status = 'committed') = (committed_points is not null)),
    check (committed_points is null or committed_points between 1 and points)
);
create index holds_due on holds (expires_at) where status = 'active';
-- One open hold per receipt: a till that retries a reserve with a new key cannot hold twice.
create unique index holds_open_document on holds
    (program_id, coalesce(store_id, ''), document_id) where status = 'active';

create table hold_allocations (
    hold_id uuid not null references holds (id),
    lot_id uuid not null references lots (id),
    points bigint not null check (points > 0),
    primary key (hold_id, lot_id)
);

-- The statement row: an operation with its status. A reserve shows its hold's status (an active
-- hold past its TTL reads as expired before the sweep releases it); accruals and commits show how
-- much of them was refunded.
create view operation_statement as
select o.id, o.program_id, o.account_id as customer_id, o.type, o.points, o.refunded_points,
       o.hold_id, o.refund_of, o.document_id, o.document_name, o.document_comment, o.reason,
       o.channel, o.key_id, o.store_id, o.available_after, o.created_at, o.seq,
       case
           when o.type = 'reserve' then
               case when h.status = 'active' and h.expires_at <= clock_timestamp()
                    then 'expired' else h.status end
           when o.type not in ('accrual', 'commit') or o.refunded_points = 0 then 'completed'
           when o.refunded_points < abs(o.points) then 'partially_refunded'
           else 'refunded'
       end as status
from operations o left join holds h on h.id = o.hold_id and o.type = 'reserve';

-- One immutable ledger row. An operation's entries sum to zero across the program (I2).
create table entries (
    id bigint generated always as identity primary key,
    program_id uuid not null references programs (id),
    operation_id uuid not null references operations (id),
    account_id uuid not null references accounts (id),
    lot_id uuid references lots (id),
    points bigint not null check (points <> 0),
    created_at timestamptz not null default clock_timestamp()
);
create index entries_account on entries (account_id);
create index entries_operation on entries (operation_id);

create function refuse_entry_change() returns trigger language plpgsql as $$
begin
    raise exception 'ledger entries are append-only: % refused', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;
create trigger entries_append_only before update or delete on entries
    for each row execute function refuse_entry_change();
create trigger entries_no_truncate before truncate on entries
    for each statement execute function refuse_entry_change();

-- Checked at commit, when all of an operation's entries are in: they must sum to zero.
create function check_operation_balanced() returns trigger language plpgsql as $$
declare
    total bigint;
begin
    select sum(points) into total from entries where operation_id = new.operation_id;
    if total <> 0 then
        raise exception 'operation % entries sum to %, not zero', new.operation_id, total
            using errcode = 'check_violation';
    end if;
    return null;
end;
$$;
create constraint trigger entries_balanced after insert on entries
    deferrable initially deferred for each row execute function check_operation_balanced();

-- The stored answer to each Idempotency-Key, scoped to the API key that sent it.
create table idempotency_keys (
    key_id uuid not null references api_keys (id),
    key text not null,
    fingerprint bytea not null,
    status_code smallint not null,
    media_type text not null,
    body bytea not null,
    created_at timestamptz not null default clock_timestamp(),
    primary key (key_id, key)
);
create index idempotency_keys_age on idempotency_keys (created_at);

-- Events to deliver, written in the same transaction as the operation they announce (I7).
create table outbox (
    id bigint generated always as identity primary key,
    program_id uuid not null references programs (id),
    operation_id uuid not null unique references operations (id),
    type text not null,
    payload jsonb not null,
    created_at timestamptz not null default clock_timestamp(),
    delivered_at timestamptz
);
create index outbox_pending on outbox (id) where delivered_at is null;
