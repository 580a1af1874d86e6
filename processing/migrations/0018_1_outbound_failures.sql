-- A delivery's last error is a class (refused_address, connect_failed, timeout, tls, transport,
-- http_status), never a socket's own words: "connection refused" on one port and a timeout on
-- another told an admin key which ports are open inside our network. Older rows are reduced to
-- their class, and the column keeps to the classes from now on.
update webhook_deliveries
set last_error = case
    when last_error like 'HTTP %' then 'http_status'
    when last_error ilike '%timeout%' then 'timeout'
    when last_error ilike '%ssl%' or last_error ilike '%certificate%' then 'tls'
    when last_error ilike '%connect%' then 'connect_failed'
    else 'transport'
end
where last_error is not null;
alter table webhook_deliveries add constraint webhook_deliveries_last_error_class check (
    last_error in ('refused_address', 'connect_failed', 'timeout', 'tls', 'transport', 'http_status')
);
