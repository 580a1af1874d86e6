-- The console's card lists a customer's active holds (the active_holds query): without this the
-- read would scan every active hold of every customer.
create index holds_active_account on holds (account_id, created_at desc) where status = 'active';
