-- Secrets at rest are sealed (AES-GCM envelopes under keys from the environment, see
-- docs/decisions/0004): a webhook's signing secret is stored sealed in its own column, a
-- connection's partner secrets move to a sealed column and their clear jsonb empties. The
-- keys are not in the database, so rows written before this are sealed by the first server
-- that starts after it (and by `bonus rotate-secrets`), which reads either form meanwhile.
alter table webhook_subscriptions drop constraint webhook_subscriptions_secret_check;
alter table webhook_subscriptions add constraint webhook_subscriptions_secret_length
    check (length(secret) between 16 and 1000);
alter table channel_connections add column secrets_sealed text
    check (secrets_sealed like 'sealed:v1:%' and length(secrets_sealed) <= 20000);
-- Sealed: nothing in clear beside it.
alter table channel_connections add constraint channel_connections_secrets_once
    check (secrets_sealed is null or secrets = '{}'::jsonb);

-- SMS codes: an HMAC under a server-side key (derived from a master key, named by its id), not
-- a bare SHA-256 that a leaked row gives up in half a second. A check already spent, expired or
-- abandoned needs no code: its bare hash goes now. A live one (at most the code TTL old) keeps
-- it and is still confirmed by it until it expires.
alter table sms_checks alter column code_sha256 drop not null;
alter table sms_checks add column code_hmac bytea check (length(code_hmac) = 32);
alter table sms_checks add column code_key_id text check (length(code_key_id) <= 64);
update sms_checks set code_sha256 = null
where verified_at is not null or abandoned_at is not null or expires_at <= clock_timestamp();
alter table sms_checks add constraint sms_checks_one_code
    check ((code_hmac is null) = (code_key_id is null)
           and (code_hmac is null or code_sha256 is null));
