-- Rotation: a key gets a new secret and keeps its id (its idempotency records and the keys
-- it minted stay attached); the old secret keeps working until previous_valid_until.
alter table api_keys
    add column previous_secret_sha256 bytea check (length(previous_secret_sha256) = 32),
    add column previous_valid_until timestamptz;
create unique index api_keys_previous_secret on api_keys (previous_secret_sha256)
    where previous_secret_sha256 is not null;
