-- name: webhook_secrets_for_sealing
-- Every subscription's stored secret, locked, for sealing (rows from before it) or re-sealing
-- under the current key (rotation).
select id, secret from webhook_subscriptions order by id for update;

-- name: seal_webhook_secret
update webhook_subscriptions set secret = $2 where id = $1;

-- name: connection_secrets_for_sealing
-- Every connection's secrets, clear (from before sealing) or sealed, locked, for (re-)sealing.
select id, secrets::text, secrets_sealed from channel_connections order by id for update;

-- name: seal_connection_secrets
update channel_connections set secrets_sealed = $2, secrets = '{}'::jsonb where id = $1;
