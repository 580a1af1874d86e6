-- The replayed-SQL baseline for one reserve → commit pair: the statements the API sends Postgres
-- for the two requests (load_turn, then apply_plan, for each; no BEGIN or COMMIT), written out
-- from the API's own text by loadtests/replay.py, with the parameters the API sends: fresh
-- idempotency keys, the events it writes, its answers. The API authenticates from its key cache
-- and remembers the redeemed account, so neither lookup appears here. Variables: :customers (how
-- many seeded), :program, :key_id, :redeemed (the program's redeemed account). A Zipf-skewed
-- customer, as in the API scenario; the hot-account baseline replaces the first line with
-- customer 1. A random 63-bit number names each request's idempotency key, as the API's
-- generator names a fresh one (the reserve's is also its receipt).
\set n random_zipfian(1, :customers, 1.1)
\set points random(1, 20)
\set reserve_key random(1, 9223372036854775806)
\set commit_key random(1, 9223372036854775806)
-- The API writes under the account's turn, taken in Redis per request, so its two statements
-- never race; pgbench has no Redis, so the turn is a session advisory lock on the account, taken
-- by one light statement that also makes the ids the API makes in Python, and released by one
-- after the apply. The customer's seeded lot is the one its holds take from.
select pg_advisory_lock(hashtextextended(md5('customer' || :n), 0)) as turn,
       md5('customer' || :n)::uuid as customer, md5('lot' || :n)::uuid as lot,
       gen_random_uuid() as hold_id, gen_random_uuid() as reserve_id,
       gen_random_uuid() as commit_id
\gset
-- reserve: load, decide (\set: the account's totals after it), apply
\replay load_turn
    :key_id                -- $1 the key
    :reserve_key           -- $2 the idempotency key
    :customer              -- $3 the account
    null                   -- $4 no hold
    :program               -- $5 the caller's program
    'store-1'              -- $6 its store
    :reserve_key           -- $7 the receipt
    null                   -- $8 no operation type whose use of the receipt is checked
    null                   -- $9 no card
    null                   -- $10 no operation refunded
    false                  -- $11 no receipt to price
    365                    -- $12 the default rules' tier window, in days
    false                  -- $13 no tier to rank
    false                  -- $14 no return by line
    null                   -- $15 no bonus to grant
    '{}'                   -- $16 no promo codes
\gset reserve_load_
\set reserved :reserve_load_reserved + :points
\set available :reserve_load_posted - :reserved
\replay apply_plan
    :reserve_id            -- $1 the operation
    :program
    :customer
    'reserve'
    :points
    :hold_id               -- $6 the hold it opens
    null
    :reserve_key           -- $8 the receipt
    null
    null
    null
    'pos'                  -- $12 the channel
    :key_id
    'store-1'
    :available             -- $15 available after
    :reserve_load_now      -- $16 the snapshot's clock
    null                   -- $17-$20 no new lot
    null
    null
    null
    array[:lot::uuid]      -- $21-$23 the lot the hold earmarks, as it ends up (its totals
                           -- read here: pgbench cannot take apart the loaded lots, and
                           -- under the turn nothing else changes them)
    (select array[remaining] from lots where id = :lot::uuid)
    (select array[held + :points::bigint] from lots where id = :lot::uuid)
    '{}'                   -- $24-$26 a hold posts no entries
    '{}'
    '{}'
    :reserve_load_posted   -- $27-$28 the account's totals after
    :reserved
    '{hold.reserved,balance.changed}'
    json_build_object(                        -- $30 the events' payload
        'operation_id', :reserve_id::uuid, 'type', 'reserve', 'customer_id', :customer::uuid,
        'points', :points::bigint, 'redeemed_points', 0, 'returned_points', 0,
        'available_after', :available::bigint, 'document_id', :reserve_key::text,
        'created_at', :reserve_load_now::timestamptz)::text
    null
    0
    :reserve_load_debt
    null
    0
    0
    :reserve_load_version  -- $37 the row version the decision read
    :hold_id               -- $38-$43 the hold
    :points
    :reserve_load_now::timestamptz     -- $40 when the hold expires
        + :reserve_load_hold_ttl_seconds_default::int * interval '1 second'
    array[:lot::uuid]
    array[:points::bigint]
    null
    null                   -- $44-$45 no hold resolved
    null
    :key_id                -- $46-$51 the answer under the key
    :reserve_key
    sha256(convert_to('reserve ' || :reserve_key::text, 'utf8'))
    201
    'application/json'
    convert_to(json_build_object(             -- $51 the answer: the hold
        'id', :hold_id::uuid, 'customer_id', :customer::uuid, 'points', :points::bigint,
        'status', 'active', 'committed_points', null,
        'expires_at', :reserve_load_now::timestamptz
                      + :reserve_load_hold_ttl_seconds_default::int * interval '1 second',
        'created_at', :reserve_load_now::timestamptz, 'resolved_at', null,
        'document_id', :reserve_key::text, 'operation_id', :reserve_id::uuid,
        'has_receipt', false)::text, 'utf8')
    null                   -- $52-$54 a hold creates no points
    null
    null
    null                   -- $55-$56 nothing refunded
    0
    null                   -- $57-$61 no purchase
    null
    null
    null
    null
    '{}'                   -- $62-$63 no events after the operation's own
    '{}'
    '{}'                   -- $64-$68 no lines returned
    '{}'
    '{}'
    '{}'
    '{}'
    null                   -- $69-$70 no bonus claimed
    null
    '{}'                   -- $71-$75 no promo codes used
    '{}'
    '{}'
    '{}'
    '{}'
\gset reserve_apply_
-- Releases the turn; divides by zero, stopping pgbench, if the apply wrote nothing: a replay that
-- stopped matching the API must not be timed.
select pg_advisory_unlock(hashtextextended(md5('customer' || :n), 0)) as turn,
       1 / :reserve_apply_applied::int as applied;
-- commit: the turn, then load (by the hold, as the API does), decide, apply
select pg_advisory_lock(hashtextextended(md5('customer' || :n), 0)) as turn;
\replay load_turn
    :key_id
    :commit_key
    null                   -- $3 the account: the hold's
    :hold_id
    :program
    'store-1'
    null
    null
    null
    null
    false
    365
    false
    false
    null
    '{}'
\gset commit_load_
\set posted :commit_load_posted - :points
\set reserved :commit_load_reserved - :points
\set available :posted - :reserved
\set spent -:points
\replay apply_plan
    :commit_id
    :program
    :customer
    'commit'
    :spent
    :hold_id
    null
    null                   -- $8 a commit names no receipt of its own
    null
    null
    null
    'pos'
    :key_id
    'store-1'
    :available
    :commit_load_now
    null
    null
    null
    null
    array[:lot::uuid]
    (select array[remaining - :points::bigint] from lots where id = :lot::uuid)
    (select array[held - :points::bigint] from lots where id = :lot::uuid)
    array[:customer::uuid, :redeemed::uuid]  -- $24-$26 the lot's entry and the redeemed account's
    array[:lot::uuid, null]
    array[:spent::bigint, :points::bigint]
    :posted
    :reserved
    '{points.redeemed,balance.changed}'
    json_build_object(
        'operation_id', :commit_id::uuid, 'type', 'commit', 'customer_id', :customer::uuid,
        'points', :spent::bigint, 'redeemed_points', 0, 'returned_points', 0,
        'available_after', :available::bigint, 'document_id', null,
        'created_at', :commit_load_now::timestamptz)::text
    null
    0
    :commit_load_debt
    null
    0
    0
    :commit_load_version
    null                   -- $38-$43 no hold opened
    null
    null
    '{}'
    '{}'
    null
    'committed'            -- $44-$45 the hold resolved, and what it spent
    :points
    :key_id
    :commit_key
    sha256(convert_to('commit ' || :commit_key::text, 'utf8'))
    200
    'application/json'
    convert_to(json_build_object(             -- $51 the answer: the operation
        'id', :commit_id::uuid, 'customer_id', :customer::uuid, 'type', 'commit',
        'points', :spent::bigint, 'status', 'completed', 'document', null, 'reason', null,
        'channel', 'pos', 'key_id', :key_id::uuid, 'store_id', 'store-1',
        'hold_id', :hold_id::uuid, 'refund_of', null, 'refunded_points', 0,
        'available_after', :available::bigint, 'created_at', :commit_load_now::timestamptz,
        'rules_version', null, 'redeemed_points', 0, 'returned_points', 0,
        'receipt', null)::text, 'utf8')
    null
    null
    null
    null
    0
    null
    null
    null
    null
    null
    '{}'
    '{}'
    '{}'
    '{}'
    '{}'
    '{}'
    '{}'
    null
    null
    '{}'
    '{}'
    '{}'
    '{}'
    '{}'
\gset commit_apply_
select pg_advisory_unlock(hashtextextended(md5('customer' || :n), 0)) as turn,
       1 / (:commit_apply_applied::int * :commit_apply_resolved::int) as applied;
