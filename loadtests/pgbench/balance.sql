-- The baseline for one balance read: the one statement the API runs for GET .../balance (the
-- API authenticates from its key cache).
\set n random_zipfian(1, :customers, 1.1)
select a.id, a.program_id, a.posted, a.reserved, a.blocked_reason is not null as blocked,
       p.hold_ttl_seconds_default, p.hold_ttl_seconds_max, p.expiry_days,
       clock_timestamp() as now,
       array(select row(l.id, l.points, l.remaining, l.held, l.activates_at, l.expires_at)
             from lots l where l.account_id = a.id and l.open) as lots
from accounts a join programs p on p.id = a.program_id
where a.id = md5('customer' || :n::text)::uuid and a.kind = 'customer' and a.program_id = :program;
