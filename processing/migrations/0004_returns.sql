-- Returns by line: which quantities of a purchase's lines each return took back, with the
-- points and money that went with them. The sums per line can never pass what was bought:
-- the service checks it under the account's row lock, and the shares are cumulative floors.
create table purchase_returns (
    operation_id uuid not null references operations (id),
    purchase_id uuid not null references purchases (operation_id),
    line_id text not null,
    quantity integer not null check (quantity > 0),
    earned_points bigint not null check (earned_points >= 0),
    redeemed_points bigint not null check (redeemed_points >= 0),
    money_minor bigint not null check (money_minor >= 0),
    created_at timestamptz not null,
    primary key (operation_id, line_id)
);
create index purchase_returns_purchase on purchase_returns (purchase_id);
