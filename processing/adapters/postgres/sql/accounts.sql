-- name: lock_account
-- Every ledger change starts here: the row lock serializes writers on one account, and the
-- database clock is the one clock every decision uses.
select a.id, a.program_id, a.posted, a.reserved, a.debt, a.blocked_reason is not null as blocked,
       p.hold_ttl_seconds_default, p.hold_ttl_seconds_max, p.expiry_days,
       -- The expiry of the current rules (null: never given rules), for the lots a change makes;
       -- a rules version committed while this waits for the row lock applies from the next one.
       (select r.rules -> 'expiry' from program_rules r where r.program_id = a.program_id
        order by r.version desc limit 1)::text as rules_expiry,
       p.key_points_per_call_max, p.key_points_per_day_max,
       clock_timestamp() as now
from accounts a join programs p on p.id = a.program_id
where a.id = $1 and a.kind = 'customer' and ($2::uuid is null or a.program_id = $2)
for update of a;

-- name: lock_account_unless_busy
-- The expiry sweep skips an account another sweep or a request is changing; it comes back later.
select a.id, a.program_id, a.posted, a.reserved, a.debt, a.blocked_reason is not null as blocked,
       p.hold_ttl_seconds_default, p.hold_ttl_seconds_max, p.expiry_days,
       -- The expiry of the current rules (null: never given rules), for the lots a change makes;
       -- a rules version committed while this waits for the row lock applies from the next one.
       (select r.rules -> 'expiry' from program_rules r where r.program_id = a.program_id
        order by r.version desc limit 1)::text as rules_expiry,
       p.key_points_per_call_max, p.key_points_per_day_max,
       clock_timestamp() as now
from accounts a join programs p on p.id = a.program_id
where a.id = $1 and a.kind = 'customer'
for update of a skip locked;

-- name: read_account
-- Balance reads take no lock. The account and its open lots come in one statement, so they are
-- one snapshot of the last committed state, in one round trip. (Writers cannot do this: after
-- waiting for a row lock, a subquery would still see the snapshot from before the wait.) The id
-- of a customer merged into another reads the survivor's account.
select a.id, a.program_id, a.posted, a.reserved, a.debt, a.blocked_reason is not null as blocked,
       p.hold_ttl_seconds_default, p.hold_ttl_seconds_max, p.expiry_days,
       -- The expiry of the current rules (null: never given rules), for the lots a change makes;
       -- a rules version committed while this waits for the row lock applies from the next one.
       (select r.rules -> 'expiry' from program_rules r where r.program_id = a.program_id
        order by r.version desc limit 1)::text as rules_expiry,
       p.key_points_per_call_max, p.key_points_per_day_max,
       clock_timestamp() as now,
       array(select row(l.id, l.points, l.remaining, l.held, l.activates_at, l.expires_at)
             from lots l where l.account_id = a.id and l.open) as lots
from accounts a join programs p on p.id = a.program_id
where a.id = coalesce((select c.merged_into from customers c where c.id = $1), $1)
  and a.kind = 'customer' and ($2::uuid is null or a.program_id = $2);

-- name: open_lots
-- The lots with points left (open: remaining > 0): what balances and decisions are computed
-- from.
select id, points, remaining, held, activates_at, expires_at
from lots where account_id = $1 and open;

-- name: system_account
-- The program account on the other side of a customer entry.
select id from accounts where program_id = $1 and kind = $2;
