-- Who minted a key (null: the operator at the console, or start-up), so that revoking a key
-- revokes every key it minted; and an optional expiry, after which the key no longer
-- authenticates.
alter table api_keys
    add column created_by uuid references api_keys (id),
    add column expires_at timestamptz;
create index api_keys_created_by on api_keys (created_by) where created_by is not null;
