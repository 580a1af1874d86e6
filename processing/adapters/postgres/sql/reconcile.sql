-- name: allow_ledger_pass
-- A pass over the whole ledger may take minutes: the rest of this transaction's statements get
-- $1 (limits.ledger_pass_statement_seconds_max) instead of the pool's request timeout.
select set_config('statement_timeout', $1, true);

-- name: reconcile_posted
-- I1: each customer account's cached posted balance against the sum of its entries and lots.
-- Set-based (one pass over each table), so it stays linear in the size of the ledger.
with entry_sums as (
    select account_id, sum(points) as entries from entries group by account_id
), lot_sums as (
    select account_id, sum(remaining) as lots from lots group by account_id
)
select a.id, a.posted, coalesce(e.entries, 0) as entries, coalesce(l.lots, 0) as lots
from accounts a
left join entry_sums e on e.account_id = a.id
left join lot_sums l on l.account_id = a.id
where a.kind = 'customer'
  and (a.posted <> coalesce(e.entries, 0) or a.posted <> coalesce(l.lots, 0));

-- name: reconcile_reserved
-- I1/I5: reserved equals the points earmarked in lots and the points of active holds.
with held_sums as (
    select account_id, sum(held) as held from lots group by account_id
), active_sums as (
    select account_id, sum(points) as active_holds from holds
    where status = 'active' group by account_id
)
select a.id, a.reserved, coalesce(l.held, 0) as held, coalesce(h.active_holds, 0) as active_holds
from accounts a
left join held_sums l on l.account_id = a.id
left join active_sums h on h.account_id = a.id
where a.kind = 'customer'
  and (a.reserved <> coalesce(l.held, 0) or a.reserved <> coalesce(h.active_holds, 0));

-- name: reconcile_debt
-- Debt is never silent: each account's debt equals the changes its operations recorded, less
-- the debt a merge took from it to the survivor (recorded on the survivor's merge operation).
select a.id, a.debt, coalesce(d.recorded, 0) as recorded
from accounts a
left join (select debtor.account_id, sum(debtor.debt_delta) as recorded
           from (select account_id, debt_delta from operations where debt_delta <> 0
                 union all
                 select merged_from, -debt_delta from operations
                 where type = 'merge' and debt_delta <> 0) as debtor
           group by debtor.account_id) d on d.account_id = a.id
where a.kind = 'customer' and a.debt <> coalesce(d.recorded, 0);

-- name: reconcile_lot_holds
-- I5 per lot: the points earmarked in a lot equal the active holds' allocations on it.
select l.id, l.held, coalesce(sum(ha.points), 0) as allocated
from lots l
left join hold_allocations ha on ha.lot_id = l.id
    and exists (select 1 from holds h where h.id = ha.hold_id and h.status = 'active')
group by l.id, l.held
having l.held <> coalesce(sum(ha.points), 0);

-- name: reconcile_lot_entries
-- Each lot's remaining points equal the entries written against it.
select l.id, l.remaining, coalesce(sum(e.points), 0) as entries
from lots l left join entries e on e.lot_id = l.id
group by l.id, l.remaining
having l.remaining <> coalesce(sum(e.points), 0);

-- name: reconcile_unbalanced_operations
-- I2: every operation's entries sum to zero.
select operation_id, sum(points) as total from entries
group by operation_id having sum(points) <> 0;

-- name: reconcile_refunds
-- I6: each original's refunded_points and returned_points equal the refunds written against
-- it. A refund's net points are what it gave back less what it clawed back: of a commit it
-- gives back (refunded_points counts that); of an accrual or purchase it claws back
-- (refunded_points) and, for a purchase paid partly with points, gives back returned_points.
select o.id, o.refunded_points, coalesce(r.refunds, 0) as refunds,
       o.returned_points, coalesce(r.returns, 0) as returns
from operations o
left join (
    select r.refund_of,
           sum(case when x.type = 'commit' then r.points
                    else r.returned_points - r.points end) as refunds,
           sum(r.returned_points) as returns
    from operations r join operations x on x.id = r.refund_of
    group by r.refund_of
) r on r.refund_of = o.id
where o.type in ('accrual', 'purchase', 'commit')
  and (o.refunded_points <> coalesce(r.refunds, 0) or o.returned_points <> coalesce(r.returns, 0));

-- name: reconcile_outbox
-- I7: every ledger operation has exactly one outbox event, but an opening balance (bonus
-- import), which notifies no one.
select o.id from operations o left join outbox x on x.operation_id = o.id
where x.id is null and o.type <> 'opening';

-- name: reconcile_purchases
-- Every purchase within the receipt bounds: its amount at most $1 (receipt_total_minor_max),
-- the money paid at most the amount, and its returns giving back at most the money paid.
select p.operation_id as id, p.amount_minor, p.money_minor,
       coalesce(r.returned, 0) as returned
from purchases p
left join (
    select purchase_id, sum(money_minor) as returned from purchase_returns group by purchase_id
) r on r.purchase_id = p.operation_id
where p.amount_minor > $1 or p.money_minor > p.amount_minor
   or coalesce(r.returned, 0) > p.money_minor;

-- name: reconcile_tier_spend
-- Every customer's spend over all purchases, as tiers are computed from it, lies between zero
-- and a bigint: beyond it a client reading the spend as a 64-bit integer breaks.
select p.account_id as id,
       sum(p.money_minor - coalesce(r.returned, 0)) as spend
from purchases p
left join (
    select purchase_id, sum(money_minor) as returned from purchase_returns group by purchase_id
) r on r.purchase_id = p.operation_id
group by p.account_id
having sum(p.money_minor - coalesce(r.returned, 0)) not between 0 and 9223372036854775807;

-- name: count_customer_accounts
-- How many accounts a reconcile run covered, for its report.
select count(*) as count from accounts where kind = 'customer';

-- name: reconcile_report_points
-- The report rollups against the ledger (decision 0025): each key's sums as the rolled-up
-- operations make them. A difference after a change of the program's time zone is expected
-- until `bonus reports rebuild` counts the days again.
select program_id, day, store_id, channel, type,
       coalesce(r.operations, 0) as operations, coalesce(e.operations, 0) as ledger_operations,
       coalesce(r.credited, 0) as credited, coalesce(e.credited, 0) as ledger_credited,
       coalesce(r.debited, 0) as debited, coalesce(e.debited, 0) as ledger_debited
from report_points r
full join report_points_expected e using (program_id, day, store_id, channel, type)
where (coalesce(r.operations, 0), coalesce(r.credited, 0), coalesce(r.debited, 0))
      <> (coalesce(e.operations, 0), coalesce(e.credited, 0), coalesce(e.debited, 0));

-- name: reconcile_report_liability
select program_id, day, lot_store_id, lot_activates_on,
       coalesce(r.points, 0) as points, coalesce(e.points, 0) as ledger_points
from report_liability r
full join report_liability_expected e using (program_id, day, lot_store_id, lot_activates_on)
where coalesce(r.points, 0) <> coalesce(e.points, 0);
