-- Donations (decision 0034): a program names charities, and a customer gives points to one.
-- A charity is an account of its own kind, `charity` (it shares the account's id), the other
-- side of each donation's entries; like the program's system accounts its balance is never
-- cached (the sum of its entries is what it received), so a busy charity is never a hot row.
-- A donation is an operation of its own type on the customer's account.
alter table operations drop constraint operations_type_check;
alter table operations add constraint operations_type_check check (
    type in ('accrual', 'purchase', 'reserve', 'commit', 'cancel', 'refund', 'expire',
             'adjustment', 'merge', 'opening', 'donation')
);
alter table accounts drop constraint accounts_kind_check;
alter table accounts add constraint accounts_kind_check check (
    kind in ('customer', 'issued', 'redeemed', 'expired', 'adjustments', 'opening', 'charity')
);
-- One system account of each kind per program; charities are many.
drop index accounts_system;
create unique index accounts_system on accounts (program_id, kind)
    where kind not in ('customer', 'charity');

create table charities (
    id uuid primary key references accounts (id),
    program_id uuid not null references programs (id),
    name text not null check (length(name) between 1 and 200),
    details text check (length(details) <= 2000),
    key_id uuid references api_keys (id),
    created_at timestamptz not null default clock_timestamp()
);
create index charities_list on charities (program_id, created_at desc, id desc);
-- The charity's report reads its entries by account (entries_account) with their operations.
