-- Bonuses granted, one row per customer, kind and period ("once", "2026", "2026-12", ...): the
-- primary key is what makes "once a year" hold even against a race the row lock did not see.
create table bonus_grants (
    account_id uuid not null references accounts (id),
    kind text not null,
    period text not null,
    operation_id uuid not null references operations (id),
    primary key (account_id, kind, period)
);
