-- Gift certificates (decision 0033): money, not points. A money ledger beside the points one,
-- in the program's currency and integer minor units: money accounts (one per certificate, and
-- the program's certificates_sold, certificates_redeemed and certificates_breakage), money
-- operations on a certificate, and their entries. Money entries never meet points entries: they
-- are other tables, so an operation's entries sum to zero in one unit by construction, and the
-- same append-only and zero-sum triggers guard them.

create table money_accounts (
    id uuid primary key,
    program_id uuid not null references programs (id),
    kind text not null check (
        kind in ('certificate', 'certificates_sold', 'certificates_redeemed',
                 'certificates_breakage')
    ),
    currency text not null check (currency ~ '^[A-Z]{3}$'),
    created_at timestamptz not null default clock_timestamp()
);
create unique index money_accounts_system on money_accounts (program_id, kind)
    where kind <> 'certificate';

-- A certificate is its own money account (it shares the account's id); its balance is that
-- account's cached balance, equal to the sum of its entries (reconcile checks it). Issued, it
-- holds nothing until it is sold (activated); expired, its balance burned to breakage.
create table certificates (
    id uuid primary key references money_accounts (id),
    program_id uuid not null references programs (id),
    number text not null unique check (number ~ '^[0-9]{16}$'),
    pin_hmac bytea not null,
    pin_key_id text not null,
    nominal_minor bigint not null check (nominal_minor > 0),
    balance_minor bigint not null default 0 check (balance_minor between 0 and nominal_minor),
    status text not null check (status in ('issued', 'active', 'expired')),
    wrong_pins integer not null default 0 check (wrong_pins >= 0),
    blocked_at timestamptz,
    expires_at timestamptz not null,
    store_id text check (length(store_id) between 1 and 128),
    batch_id uuid not null,
    issued_at timestamptz not null default clock_timestamp(),
    activated_at timestamptz,
    check ((status = 'issued') = (activated_at is null)),
    check (status = 'active' or balance_minor = 0)
);
create index certificates_list on certificates (program_id, issued_at desc, id desc);
create index certificates_due on certificates (expires_at) where status = 'active';

create table certificate_operations (
    id uuid primary key,
    seq bigint generated always as identity unique,
    program_id uuid not null references programs (id),
    certificate_id uuid not null references certificates (id),
    type text not null check (type in ('sale', 'redemption', 'refund', 'expiry')),
    amount_minor bigint not null check (amount_minor > 0),
    balance_after bigint not null check (balance_after >= 0),
    -- The points ledger's purchase a redemption paid for, or the refund operation of the
    -- return that gave money back.
    ledger_operation_id uuid references operations (id),
    refund_of uuid references certificate_operations (id),
    -- Raised by each refund of a redemption, under the certificate's row lock.
    refunded_minor bigint not null default 0,
    document_id text,
    store_id text,
    key_id uuid references api_keys (id),
    channel text not null,
    created_at timestamptz not null default clock_timestamp(),
    check (refunded_minor between 0 and amount_minor),
    check ((type = 'refund') = (refund_of is not null)),
    check (type not in ('redemption', 'refund') or ledger_operation_id is not null)
);
create index certificate_operations_statement on certificate_operations
    (certificate_id, seq desc);
create index certificate_operations_ledger on certificate_operations (ledger_operation_id)
    where ledger_operation_id is not null;

create table money_entries (
    id bigint generated always as identity primary key,
    program_id uuid not null references programs (id),
    operation_id uuid not null references certificate_operations (id),
    account_id uuid not null references money_accounts (id),
    amount_minor bigint not null check (amount_minor <> 0),
    created_at timestamptz not null default clock_timestamp()
);
create index money_entries_account on money_entries (account_id);
create index money_entries_operation on money_entries (operation_id);

create trigger money_entries_append_only before update or delete on money_entries
    for each row execute function refuse_entry_change();
create trigger money_entries_no_truncate before truncate on money_entries
    for each statement execute function refuse_entry_change();

create function check_money_operation_balanced() returns trigger language plpgsql as $$
declare
    total bigint;
begin
    select sum(amount_minor) into total from money_entries where operation_id = new.operation_id;
    if total <> 0 then
        raise exception 'money operation % entries sum to %, not zero', new.operation_id, total
            using errcode = 'check_violation';
    end if;
    return null;
end;
$$;
create constraint trigger money_entries_balanced after insert on money_entries
    deferrable initially deferred for each row execute function check_money_operation_balanced();
