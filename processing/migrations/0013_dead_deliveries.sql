-- The relay counts dead deliveries every 15 s for its gauge (and operators list them): a partial
-- index keeps that count to the dead rows instead of a scan of every delivery ever made.
create index webhook_deliveries_dead on webhook_deliveries (subscription_id) where status = 'dead';
