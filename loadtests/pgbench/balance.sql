-- The baseline for one balance read: the API's statements for GET .../balance.
\set n random_zipfian(1, :customers, 1.1)
select id, program_id, scopes, store_id from api_keys
where secret_sha256 = decode(:secret::text, 'hex') and revoked_at is null;
begin isolation level repeatable read read only;
select a.id, a.program_id, a.posted, a.reserved, a.blocked_reason is not null as blocked,
       p.hold_ttl_seconds_default, p.hold_ttl_seconds_max, p.expiry_days, clock_timestamp() as now
from accounts a join programs p on p.id = a.program_id
where a.id = md5('customer' || :n::text)::uuid and a.kind = 'customer' and a.program_id = :program;
select id, points, remaining, held, activates_at, expires_at
from lots where account_id = md5('customer' || :n::text)::uuid and remaining > 0;
commit;
