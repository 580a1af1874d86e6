-- The least-SQL baseline: the logical work of the API's reserve, commit and balance read, each as
-- ONE server-side call on our real schema. `make bench` loads this into its own bench database
-- (schema least_sql), never into the product's migrations; pgbench then calls one function per
-- transaction (least_reserve_commit.sql, least_balance.sql). It is the floor we steer by: what
-- the same rows cost when no round trip, driver or interpreter stands between the decision and
-- the data.
--
-- Each mutating function writes every row the API writes for the same call (checked against
-- the API by tests/integration/test_load_baseline.py): the idempotency claim (the advisory lock)
-- and stored answer, the account's cached totals, the lots' held and remaining points, the hold
-- and its allocations, the operation, the entries (zero-sum; the deferred trigger checks it), and
-- both outbox events. The decisions are the core's (processing/core/holds.py): lots are taken
-- soonest-expiring first, a commit spends from the hold's own lots in that order and releases
-- the rest. Refusals are answered and stored like the API's, as problem documents.

create schema if not exists least_sql;

-- A stored answer in the API's shape.
create or replace function least_sql.problem(code text, title text, detail text, hold_id uuid)
returns bytea language sql immutable as $$
    select convert_to(json_build_object(
        'type', 'https://bonus.example/problems/' || code, 'title', title, 'status', 409,
        'code', code, 'detail', detail, 'hold_id', hold_id)::text, 'UTF8')
$$;

-- The event both of an operation's outbox rows carry (service/ledger.py: event_of).
create or replace function least_sql.event(
    operation_id uuid, type text, customer_id uuid, points bigint, available_after bigint,
    document_id text, created_at timestamptz
) returns jsonb language sql immutable as $$
    select jsonb_build_object(
        'operation_id', operation_id, 'type', type, 'customer_id', customer_id, 'points', points,
        'redeemed_points', 0, 'returned_points', 0, 'available_after', available_after,
        'document_id', document_id, 'created_at', created_at)
$$;

-- POST /v1/customers/{customer}/holds with an Idempotency-Key, as one call. The answer is
-- (status_code, body); id is the hold's, which a client reads from the body.
create or replace function least_sql.reserve(
    key_id uuid, key text, program uuid, store text, customer uuid, points bigint,
    document text, ttl_seconds integer default null,
    out status_code smallint, out body bytea, out id uuid
) language plpgsql as $$
declare
    fingerprint bytea := sha256(convert_to(concat_ws(chr(31), 'reserve', customer::text,
        json_build_object('points', points, 'document', json_build_object('id', document),
                          'ttl_seconds', ttl_seconds)::text), 'UTF8'));
    stored record;
    account record;
    lot record;
    now timestamptz;
    ttl integer;
    available bigint := 0;
    left_to_take bigint := points;
    part bigint;
    lot_ids uuid[] := '{}';
    parts bigint[] := '{}';
    open_hold uuid;
    operation_id uuid := gen_random_uuid();
begin
    if not pg_try_advisory_xact_lock(hashtextextended(key_id::text || '/' || key, 0)) then
        status_code := 409;
        body := least_sql.problem('idempotency_request_in_progress', 'In progress',
                                  'A request with this Idempotency-Key is still being processed.',
                                  null);
        return;
    end if;
    select k.fingerprint, k.status_code, k.body into stored
    from idempotency_keys k where k.key_id = reserve.key_id and k.key = reserve.key;
    if found then
        status_code := case when stored.fingerprint = fingerprint then stored.status_code else 422 end;
        body := stored.body;
        return;
    end if;

    select a.id, a.posted, a.reserved, a.blocked_reason is not null as blocked,
           p.hold_ttl_seconds_default, p.hold_ttl_seconds_max, clock_timestamp() as now
    into account
    from accounts a join programs p on p.id = a.program_id
    where a.id = customer and a.kind = 'customer' and a.program_id = program
    for update of a;
    now := account.now;
    ttl := coalesce(ttl_seconds, account.hold_ttl_seconds_default);
    if account.id is null then
        status_code := 404;
        body := least_sql.problem('not_found', 'Not found', 'No customer with this id.', null);
    else
        select h.id into open_hold from holds h
        where h.program_id = program and coalesce(h.store_id, '') = coalesce(store, '')
          and h.document_id = document and h.status = 'active';
        if open_hold is not null then
            status_code := 409;
            body := least_sql.problem('duplicate_document', 'Document already applied',
                                      'The document already has an open hold.', open_hold);
        elsif account.blocked then
            status_code := 409;
            body := least_sql.problem('account_blocked', 'Account blocked',
                                      'The customer''s account is blocked.', null);
        elsif ttl > account.hold_ttl_seconds_max then
            status_code := 409;
            body := least_sql.problem('hold_ttl_exceeds_maximum', 'Hold TTL too long',
                                      'ttl_seconds exceeds the program''s maximum.', null);
        end if;
    end if;
    if status_code is null then
        -- The spendable lots, soonest-expiring first (core/balances.py: spend_order): a
        -- statement of its own, so it sees what committed while this waited for the row lock.
        for lot in
            select l.id, l.remaining - l.held as free from lots l
            where l.account_id = customer and l.open and l.remaining > l.held
              and l.activates_at <= now and (l.expires_at is null or l.expires_at > now)
            order by l.expires_at is null, coalesce(l.expires_at, l.activates_at),
                     l.activates_at, l.id
        loop
            available := available + lot.free;
            part := least(lot.free, left_to_take);
            if part > 0 then
                lot_ids := lot_ids || lot.id;
                parts := parts || part;
                left_to_take := left_to_take - part;
            end if;
        end loop;
        if left_to_take > 0 then
            status_code := 409;
            body := least_sql.problem('insufficient_points', 'Insufficient points',
                                      format('%s points requested, %s available.',
                                             points, available), null);
        end if;
    end if;
    if status_code is not null then
        insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
        values (reserve.key_id, reserve.key, fingerprint, status_code,
                'application/problem+json', body);
        return;
    end if;

    id := gen_random_uuid();
    status_code := 201;
    body := convert_to(json_build_object(
        'id', id, 'customer_id', customer, 'points', points, 'status', 'active',
        'committed_points', null, 'expires_at', now + make_interval(secs => ttl),
        'created_at', now, 'resolved_at', null, 'document_id', document,
        'operation_id', operation_id, 'has_receipt', false)::text, 'UTF8');
    -- Every row in one statement; foreign keys are checked at its end.
    with operation as (
        insert into operations (id, program_id, account_id, type, points, hold_id, document_id,
                                channel, key_id, store_id, available_after, created_at)
        values (operation_id, program, customer, 'reserve', points, id, document, 'pos',
                key_id, store, available - points, now)
    ), held_lots as (
        update lots set held = held + taken.points
        from unnest(lot_ids, parts) as taken (lot_id, points)
        where lots.id = taken.lot_id
    ), totals as (
        update accounts set reserved = reserved + points where accounts.id = customer
    ), hold as (
        insert into holds (id, program_id, account_id, operation_id, points, status,
                           expires_at, store_id, document_id, created_at)
        values (id, program, customer, operation_id, points, 'active',
                now + make_interval(secs => ttl), store, document, now)
    ), allocations as (
        insert into hold_allocations (hold_id, lot_id, points)
        select reserve.id, taken.lot_id, taken.points from unnest(lot_ids, parts) as taken (lot_id, points)
    ), events as (
        insert into outbox (program_id, operation_id, type, payload)
        select program, operation_id, event_type,
               least_sql.event(operation_id, 'reserve', customer, points, available - points,
                               document, now)
        from unnest(array['hold.reserved', 'balance.changed']) as event_type
    )
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values (reserve.key_id, reserve.key, fingerprint, status_code, 'application/json', body);
end;
$$;

-- POST /v1/holds/{hold}/commit with an Idempotency-Key, as one call; points null spends the
-- whole hold. id is the commit operation's.
create or replace function least_sql.commit(
    key_id uuid, key text, program uuid, store text, hold_id uuid, points bigint default null,
    out status_code smallint, out body bytea, out id uuid
) language plpgsql as $$
declare
    fingerprint bytea := sha256(convert_to(concat_ws(chr(31), 'commit', hold_id::text,
        json_build_object('points', points)::text), 'UTF8'));
    stored record;
    customer uuid;
    account record;
    hold record;
    lot record;
    now timestamptz;
    spend bigint;
    available bigint := 0;
    left_to_spend bigint;
    part bigint;
    lot_ids uuid[] := '{}';
    released bigint[] := '{}';
    spent bigint[] := '{}';
begin
    if not pg_try_advisory_xact_lock(hashtextextended(key_id::text || '/' || key, 0)) then
        status_code := 409;
        body := least_sql.problem('idempotency_request_in_progress', 'In progress',
                                  'A request with this Idempotency-Key is still being processed.',
                                  null);
        return;
    end if;
    select k.fingerprint, k.status_code, k.body into stored
    from idempotency_keys k where k.key_id = commit.key_id and k.key = commit.key;
    if found then
        status_code := case when stored.fingerprint = fingerprint then stored.status_code else 422 end;
        body := stored.body;
        return;
    end if;

    -- The hold's account, so that its row lock is taken before the hold's.
    select h.account_id into customer from holds h
    where h.id = hold_id and h.program_id = program and h.store_id = store;
    select a.id, a.blocked_reason is not null as blocked, clock_timestamp() as now into account
    from accounts a
    where a.id = customer and a.kind = 'customer' and a.program_id = program
    for update of a;
    now := account.now;
    select h.id, h.points, h.status, h.expires_at into hold from holds h
    where h.id = commit.hold_id and h.program_id = program and h.store_id = store
    for update;
    spend := coalesce(points, hold.points);
    if account.id is null or hold.id is null then
        status_code := 404;
        body := least_sql.problem('hold_not_found', 'Hold not found', 'No hold with this id.',
                                  null);
    elsif hold.status = 'committed' then
        status_code := 409;
        body := least_sql.problem('hold_already_committed', 'Hold already committed',
                                  'The hold is already committed.', null);
    elsif hold.status = 'cancelled' then
        status_code := 409;
        body := least_sql.problem('hold_already_cancelled', 'Hold already cancelled',
                                  'The hold is already cancelled.', null);
    elsif hold.status = 'expired' or hold.expires_at <= now then
        status_code := 409;
        body := least_sql.problem('hold_expired', 'Hold expired',
                                  'The hold expired; reserve the points again.', null);
    elsif account.blocked then
        status_code := 409;
        body := least_sql.problem('account_blocked', 'Account blocked',
                                  'The customer''s account is blocked.', null);
    elsif spend > hold.points then
        status_code := 409;
        body := least_sql.problem('commit_exceeds_hold', 'Commit exceeds the held points',
                                  format('%s points to commit, the hold has %s.',
                                         spend, hold.points), null);
    end if;
    if status_code is not null then
        insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
        values (commit.key_id, commit.key, fingerprint, status_code,
                'application/problem+json', body);
        return;
    end if;

    -- The open lots with this hold's allocations, soonest-expiring first: the hold's lots give
    -- up their earmarks and pay the spend in that order (core/holds.py: decide_commit); every
    -- spendable lot counts toward the balance the events tell.
    left_to_spend := spend;
    for lot in
        select l.id, l.remaining, l.held, a.points as allocated,
               l.activates_at <= now and (l.expires_at is null or l.expires_at > now)
                   as spendable
        from lots l left join hold_allocations a on a.lot_id = l.id and a.hold_id = hold.id
        where l.account_id = customer and l.open
        order by l.expires_at is null, coalesce(l.expires_at, l.activates_at),
                 l.activates_at, l.id
    loop
        part := 0;
        if lot.allocated is not null then
            part := least(lot.allocated, left_to_spend);
            left_to_spend := left_to_spend - part;
            lot_ids := lot_ids || lot.id;
            released := released || lot.allocated;
            spent := spent || part;
        end if;
        if lot.spendable then
            available := available + (lot.remaining - part) - (lot.held - coalesce(lot.allocated, 0));
        end if;
    end loop;

    id := gen_random_uuid();
    status_code := 200;
    body := convert_to(json_build_object(
        'id', id, 'customer_id', customer, 'type', 'commit', 'points', -spend,
        'status', 'completed', 'document', null, 'reason', null, 'channel', 'pos',
        'key_id', key_id, 'store_id', store, 'hold_id', hold.id, 'refund_of', null,
        'refunded_points', 0, 'available_after', available, 'created_at', now,
        'rules_version', null, 'redeemed_points', 0, 'returned_points', 0,
        'receipt', null)::text, 'UTF8');
    with operation as (
        insert into operations (id, program_id, account_id, type, points, hold_id, channel,
                                key_id, store_id, available_after, created_at)
        values (commit.id, program, customer, 'commit', -spend, hold.id, 'pos', key_id, store,
                available, now)
    ), changed_lots as (
        update lots set held = held - changed.released, remaining = remaining - changed.spent
        from unnest(lot_ids, released, spent) as changed (lot_id, released, spent)
        where lots.id = changed.lot_id
    ), entries as (
        insert into entries (program_id, operation_id, account_id, lot_id, points)
        select program, commit.id, customer, changed.lot_id, -changed.spent
        from unnest(lot_ids, spent) as changed (lot_id, spent) where changed.spent > 0
        union all
        select program, commit.id, a.id, null, spend
        from accounts a where a.program_id = program and a.kind = 'redeemed'
    ), totals as (
        update accounts set posted = posted - spend, reserved = reserved - hold.points
        where accounts.id = customer
    ), resolved as (
        update holds set status = 'committed', committed_points = spend,
                         resolved_at = clock_timestamp(), resolved_by = commit.id
        where holds.id = hold.id and holds.status = 'active'
    ), events as (
        insert into outbox (program_id, operation_id, type, payload)
        select program, commit.id, event_type,
               least_sql.event(commit.id, 'commit', customer, -spend, available, null, now)
        from unnest(array['points.redeemed', 'balance.changed']) as event_type
    )
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values (commit.key_id, commit.key, fingerprint, status_code, 'application/json', body);
end;
$$;

-- GET /v1/customers/{customer}/balance as one call: the balance from the account and its open
-- lots at the database's clock (core/balances.py: balance_of), null for an unknown customer.
-- In plpgsql, whose plans are kept per connection (a SQL function's are made at each call), and
-- one pass over the lots, soonest-expiring first, so that equal expiries group as they come.
create or replace function least_sql.balance(program uuid, customer uuid)
returns bytea language plpgsql as $$
declare
    account record;
    lot record;
    available bigint := 0;
    pending bigint := 0;
    expiring json[] := '{}';
    group_at timestamptz;
    group_points bigint := 0;
begin
    select a.id, a.reserved, a.debt, clock_timestamp() as now into account from accounts a
    where a.id = customer and a.kind = 'customer' and a.program_id = program;
    if account.id is null then
        return null;
    end if;
    for lot in
        select l.remaining, l.remaining - l.held as free, l.activates_at, l.expires_at
        from lots l where l.account_id = customer and l.open
        order by l.expires_at nulls last
    loop
        if lot.activates_at > account.now then
            pending := pending + lot.remaining;
        elsif (lot.expires_at is null or lot.expires_at > account.now) and lot.free > 0 then
            available := available + lot.free;
            if lot.expires_at is not null then
                if group_at is distinct from lot.expires_at and group_at is not null then
                    expiring := expiring || json_build_object('points', group_points,
                                                              'expires_at', group_at);
                    group_points := 0;
                end if;
                group_at := lot.expires_at;
                group_points := group_points + lot.free;
            end if;
        end if;
    end loop;
    if group_at is not null then
        expiring := expiring || json_build_object('points', group_points, 'expires_at', group_at);
    end if;
    return convert_to(json_build_object(
        'available', available, 'reserved', account.reserved, 'pending', pending,
        'expiring', to_json(expiring[1:12]), 'debt', account.debt)::text, 'UTF8');
end;
$$;
