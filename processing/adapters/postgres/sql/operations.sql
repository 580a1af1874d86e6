-- name: write_operation
-- An operation with everything it changed, in one statement and one round trip: the operation,
-- the lot it creates ($17 null when none; $34 the points left in it when a later leg of the
-- same operation took some), the lots it changed, its entries (the deferred trigger checks at
-- commit that they sum to zero), the account's cached totals, and its outbox events (I7): $29
-- their types, $30 the payload they share. Foreign keys are checked at the end of the statement,
-- so the entries may name the lot created here. The account row is updated even when its totals
-- did not move: its new row version is how apply_plan sees that the account changed since its
-- decision read it.
with operation as (
    insert into operations (id, program_id, account_id, type, points, hold_id, refund_of,
                            document_id, document_name, document_comment, reason, channel,
                            key_id, store_id, available_after, created_at, rules_version,
                            debt_delta, redeemed_points, returned_points)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $31, $32,
            $35, $36)
), new_lot as (
    insert into lots (id, program_id, account_id, operation_id, points, remaining, held,
                      activates_at, expires_at)
    select $17, $2, $3, $1, $18, $34, 0, $19, $20
    where $17::uuid is not null
), changed_lots as (
    update lots set remaining = changed.remaining, held = changed.held
    from unnest($21::uuid[], $22::bigint[], $23::bigint[]) as changed (id, remaining, held)
    where lots.id = changed.id
), entries as (
    insert into entries (program_id, operation_id, account_id, lot_id, points)
    select $2, $1, entry.account_id, entry.lot_id, entry.points
    from unnest($24::uuid[], $25::uuid[], $26::bigint[]) as entry (account_id, lot_id, points)
), totals as (
    update accounts set posted = $27, reserved = $28, debt = $33 where id = $3
)
insert into outbox (program_id, operation_id, type, payload)
select $2, $1, event_type, $30::jsonb from unnest($29::text[]) as event_type;

-- name: operation_account
-- Which account a refund will lock, looked up before the lock is taken (and whether a read may
-- see the operation). $2 the caller's program, $3 its store (null for a key that spans them):
-- a store's till finds only its own store's operations; $4 its merchant (null: none), a
-- merchant's key only operations of stores that were its merchant's when they were made
-- (decision 0026). An operation of a customer merged into another is refunded on the
-- survivor's account, which holds its lots now.
select coalesce(c.merged_into, o.account_id) from operations o
left join customers c on c.id = o.account_id
where o.id = $1 and ($2::uuid is null or o.program_id = $2)
  and ($3::text is null or o.store_id = $3)
  and ($4::uuid is null or store_merchant(o.program_id, o.store_id, o.created_at) = $4);

-- name: get_operation
-- One operation as the statement shows it.
select * from operation_statement where id = $1;

-- name: statement
-- The account's operations, newest first, one page after the cursor's sequence number.
select * from operation_statement
where customer_id = $1 and seq < $2
order by seq desc
limit $3;

-- name: merged_statement
-- The statement of a customer others were merged into: the operations of every account in $1
-- (the survivor's and the merged ones'), newest first, one page after the cursor.
select * from operation_statement
where customer_id = any($1::uuid[]) and seq < $2
order by seq desc
limit $3;

-- name: find_document
-- The operation a business document already produced, to name it in a duplicate_document answer.
-- The last two conditions repeat operations_document's predicate, so that the prepared
-- statement's generic plan (where $3 is unknown) may use that partial index.
select id from operations
where program_id = $1 and coalesce(store_id, '') = coalesce($2, '') and type = $3
  and document_id = $4
  and type = any (array['accrual', 'purchase', 'adjustment', 'refund'])
  and document_id is not null;
