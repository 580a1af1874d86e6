-- Debt: points a return should have clawed back but the customer had already spent, under the
-- "debt" return policy. Recorded on the account and on the operation that changed it (never
-- silently), repaid from later earnings first; reconcile checks the account against the sum of
-- its operations' changes.
alter table accounts add column debt bigint not null default 0
    check (debt >= 0 and debt <= 1000000000000);
alter table operations add column debt_delta bigint not null default 0;
