-- Two records of one person merged into one: the survivor takes the other's open lots with their
-- activation and expiry, its debt, cards, purchases (its tier standing), bonus periods, partner
-- contacts and the customers it referred; the merged record stays, pointing at the survivor, so
-- that its id, its phone and its operations keep resolving to the survivor's account.
alter table customers add column merged_into uuid references customers (id);
alter table customers add constraint customers_merged_into_other check (merged_into <> id);
create index customers_merged_into on customers (merged_into) where merged_into is not null;

-- The merge is one operation on the survivor's account. Its entries move each open lot of the
-- merged account (merged_from) to the survivor: minus on the merged account, plus on the
-- survivor's, the same lot both times, so the operation sums to zero (I2) without a system
-- account, and each lot's remaining still equals the entries written against it.
alter table operations add column merged_from uuid references accounts (id);
alter table operations drop constraint operations_type_check;
alter table operations add constraint operations_type_check check (
    type in ('accrual', 'purchase', 'reserve', 'commit', 'cancel', 'refund', 'expire',
             'adjustment', 'merge')
);
alter table operations add constraint operations_merged_from_check
    check ((type = 'merge') = (merged_from is not null));
