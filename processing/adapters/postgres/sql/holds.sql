-- name: lock_hold
-- Read under the account's row lock; the row lock here guards against any other path.
select id, account_id, points, status, expires_at, document_id, receipt::text as receipt
from holds
where id = $1 and ($2::uuid is null or program_id = $2) and ($3::text is null or store_id = $3)
for update;

-- name: hold_allocations
-- The lots a hold earmarked.
select lot_id, points from hold_allocations where hold_id = $1;

-- name: resolve_hold
-- A hold resolves exactly once: only an active hold changes, and the caller checks the count (I5).
update holds set status = $2, committed_points = $3, resolved_at = clock_timestamp(),
                 resolved_by = $4
where id = $1 and status = 'active';

-- name: get_hold
-- A hold as the API shows it; an active hold past its TTL reads as expired before the sweep.
select h.id, h.account_id as customer_id, h.points, h.committed_points, h.expires_at,
       h.created_at, h.resolved_at, h.document_id, h.operation_id,
       h.receipt is not null as has_receipt,
       case when h.status = 'active' and h.expires_at <= clock_timestamp()
            then 'expired' else h.status end as status
from holds h
where h.id = $1 and ($2::uuid is null or h.program_id = $2)
  and ($3::text is null or h.store_id = $3);

-- name: active_holds
-- A customer's holds still holding points, newest first, for the console's card: $1 the customer,
-- $2 the caller's program and $3 its store (null: any), as get_hold confines; $4 at most this many.
-- An active hold past its TTL is left out, as get_hold reads it expired before the sweep.
select id, points, expires_at, store_id, document_id, created_at
from holds
where account_id = $1 and status = 'active' and expires_at > clock_timestamp()
  and ($2::uuid is null or program_id = $2) and ($3::text is null or store_id = $3)
order by created_at desc, id desc
limit $4;

-- name: due_holds
-- Active holds past their TTL by the database clock, oldest first; $2 narrows to one program.
select id, account_id from holds
where status = 'active' and expires_at <= clock_timestamp()
  and ($2::uuid is null or program_id = $2)
order by expires_at
limit $1;

-- name: cheque_hold
-- The latest hold a till's cheque reserved, and its customer: what a fiscal commit or a cancel
-- by cheque id acts on (the commit or cancel reads its state again under the account's lock).
select id, account_id
from holds
where program_id = $1 and coalesce(store_id, '') = coalesce($2, '') and document_id = $3
order by created_at desc
limit 1;


-- name: document_holds
-- The holds reserved for the documents matching a LIKE pattern (one CRM order, or every write-off
-- of one deal), oldest first, with what each spent and what refunds of that gave back.
select h.id, h.document_id, h.status, h.points, h.committed_points,
       h.resolved_by as committed_by, coalesce(o.refunded_points, 0) as given_back
from holds h
left join operations o on o.id = h.resolved_by and h.status = 'committed'
where h.program_id = $1 and h.store_id is null and h.document_id like $2
order by h.created_at, h.id;
