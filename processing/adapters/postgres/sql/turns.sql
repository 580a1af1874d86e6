-- name: load_turn
-- Everything a write in turn decides on, read in one statement (one snapshot, one round trip)
-- and without a lock: the answer stored under the idempotency key ($1, $2); the account ($3, or
-- else the hold's) with its open lots and its row version (xmin changes with every update of
-- the row), which the apply checks instead of holding a row lock; the hold $4 with what it
-- earmarked; the open hold that document $7 already has, and the operation of type $8 it
-- (or, $7 null, the hold's own document) already produced; card $9 (whose customer, in which
-- status); and operation $10 as a refund sees it, with what it moved and every lot it moved
-- (emptied ones too). $5 the caller's
-- program, $6 its store (null for a key that spans them). When $11, a write that prices a
-- receipt: the newest rules of the account's program (none: its defaults); when $13 too, one
-- that ranks the customer's tier: their standing under those rules as tier_inputs reads it, over
-- the rules' tier window ($12 the window of the defaults, for rules that do not name one), and
-- the referrer of a customer who has made no purchase yet (whose first one grants a referral)
-- and their paid membership in force as last written (decision 0035).
-- When $14, a return by line: the purchase operation $10 made (its receipt as priced and when),
-- with the rules of its version (none: the defaults) and the quantities earlier returns took
-- back. When $15 names a bonus kind: the periods it was granted in, and the customer's
-- birthday. The promo codes $16 (normalized; empty for none) of the account's program, with
-- their campaigns, their counters and the customer's uses of each campaign (decision 0032).
with answer as (
    select fingerprint, status_code, media_type, body from idempotency_keys
    where key_id = $1 and key = $2
), hold as (
    select h.id, h.account_id, h.points, h.status, h.expires_at, h.document_id,
           h.receipt::text as receipt, h.created_at, h.operation_id,
           array(select row(al.lot_id, al.points) from hold_allocations al
                 where al.hold_id = h.id) as allocations
    from holds h
    where h.id = $4 and ($5::uuid is null or h.program_id = $5)
      and ($6::text is null or h.store_id = $6)
), original as (
    select o.id, o.account_id, o.type, o.points, o.refunded_points, o.redeemed_points,
           o.returned_points, o.rules_version,
           array(select row(e.lot_id, e.points) from entries e
                 where e.operation_id = o.id and e.account_id = o.account_id
                   and e.lot_id is not null
                 order by e.id) as movements,
           array(select row(l.id, l.points, l.remaining, l.held, l.activates_at, l.expires_at)
                 from lots l
                 where l.id in (select e.lot_id from entries e
                                where e.operation_id = o.id and e.account_id = o.account_id))
               as moved_lots
    from operations o
    where o.id = $10 and ($5::uuid is null or o.program_id = $5)
      and ($6::text is null or o.store_id = $6)
), named as (
    -- The account the write names, or its hold's, or its operation's; a customer merged into
    -- another is written on the survivor's account, which holds their lots now.
    select coalesce($3, (select account_id from hold), (select account_id from original)) as id
), account as (
    select a.id, a.program_id, a.posted, a.reserved, a.debt,
           a.blocked_reason is not null as blocked, a.xmin::text::bigint as version,
           p.hold_ttl_seconds_default, p.hold_ttl_seconds_max, p.expiry_days,
           (select r.rules -> 'expiry' from program_rules r where r.program_id = a.program_id
            order by r.version desc limit 1)::text as rules_expiry,
           p.key_points_per_call_max, p.key_points_per_day_max,
           clock_timestamp() as now,
           array(select row(l.id, l.points, l.remaining, l.held, l.activates_at, l.expires_at)
                 from lots l where l.account_id = a.id and l.open) as lots,
           (select o.id from holds o
            where o.program_id = a.program_id and coalesce(o.store_id, '') = coalesce($6, '')
              and o.document_id = $7 and o.status = 'active') as open_hold,
           -- The two "is not null" and "any" conditions repeat operations_document's own
           -- predicate, so that a generic plan (the prepared statement's, where $8 is unknown)
           -- may use that partial index instead of reading every operation.
           (select d.id from operations d
            where d.program_id = a.program_id and coalesce(d.store_id, '') = coalesce($6, '')
              and d.type = $8::text
              and d.type = any (array['accrual', 'purchase', 'adjustment', 'refund'])
              and d.document_id is not null
              and d.document_id = coalesce($7, (select coalesce(hold.document_id, hold.id::text)
                                                from hold))) as document_operation,
           (select row(c.customer_id, c.status) from cards c
            where c.program_id = a.program_id and c.number = $9::text) as card,
           (select array_agg(g.period) from bonus_grants g
            where g.account_id = a.id and g.kind = $15::text) as bonus_periods,
           (select c.birthday from customers c where c.id = a.id and $15::text is not null)
               as birthday
    from accounts a join programs p on p.id = a.program_id
    where a.id = (select coalesce(c.merged_into, named.id) from named
                  left join customers c on c.id = named.id)
      and a.kind = 'customer'
      and ($5::uuid is null or a.program_id = $5)
), rules as (
    select r.version, r.rules, r.created_at
    from program_rules r join account on r.program_id = account.program_id
    where $11::boolean
    order by r.version desc limit 1
), standing as (
    select coalesce((
               select sum(p.money_minor - coalesce(
                   (select sum(pr.money_minor) from purchase_returns pr
                    where pr.purchase_id = p.operation_id), 0))
               from purchases p
               where p.account_id = account.id
                 and p.created_at > account.now - make_interval(days => coalesce(
                     (select (rules.rules ->> 'tier_window_days')::integer from rules),
                     $12::integer))
           ), 0)::numeric as spend,
           customer.tier_floor,
           -- the paid membership in force as last written, theirs or a merged customer's (0035)
           (select json_build_object(
                       'id', m.id, 'customer_id', m.customer_id, 'anchor_at', m.anchor_at,
                       'periods', m.periods, 'version', m.version, 'status', m.status,
                       'level', (select row_to_json(l) from membership_levels l
                                 where l.id = m.level_id))::text
            from memberships m
            where m.status in ('active', 'grace')
              and (m.customer_id = account.id or m.customer_id in (select d.id from customers d
                                               where d.merged_into = account.id))
            order by m.grace_ends_at desc, m.id limit 1)
               as membership,
           -- a customer yet to purchase: their first purchase grants the referral of whoever
           -- referred them, and rewards the promoter who brought them (decision 0034)
           case when fresh.none_yet then customer.referred_by end as referred_by,
           case when fresh.none_yet then customer.promoter_id end as promoted_by
    from account
    left join customers customer on customer.id = account.id
    cross join lateral (select not exists (select from purchases p
                                           where p.account_id = account.id) as none_yet) fresh
    where $11::boolean and $13::boolean
), bought as (
    select p.program_id, p.lines::text as lines, p.created_at, original.rules_version,
           r.rules::text as rules, r.created_at as rules_at,
           (select coalesce(json_object_agg(done.line_id, done.quantity), '{}')::text
            from (select pr.line_id, sum(pr.quantity)::integer as quantity
                  from purchase_returns pr where pr.purchase_id = p.operation_id
                  group by pr.line_id) as done) as returned,
           (select r.reward_operation_id from promoter_rewards r
            where r.purchase_operation_id = p.operation_id
              and r.clawback_operation_id is null) as promoter_reward
    from purchases p
    join original on original.id = p.operation_id
    left join program_rules r on r.program_id = p.program_id
                             and r.version = original.rules_version
    where $14::boolean
), promo as (
    select json_agg(json_build_object(
               'id', pc.id, 'code', pc.code,
               -- a personal code of a customer merged since is the survivor's
               'customer_id', coalesce((select m.merged_into from customers m
                                        where m.id = pc.customer_id), pc.customer_id),
               'uses_max', pc.uses_max, 'used', pc.used,
               'customer_used', coalesce((select u.used from promo_customer_uses u
                                          where u.campaign_id = c.id
                                            and u.account_id = account.id), 0),
               'campaign', json_build_object(
                   'id', c.id, 'starts_at', c.starts_at, 'ends_at', least(c.ends_at, c.ended_at),
                   'channels', c.channels, 'stores', c.stores,
                   'min_amount_minor', c.min_amount_minor, 'skus', c.skus,
                   'categories', c.categories, 'effect', c.effect, 'value', c.value,
                   'uses_max', c.uses_max, 'uses_per_customer_max', c.uses_per_customer_max,
                   'stacking', c.stacking, 'used', c.used)))::text as codes
    from account
    join promo_codes pc on pc.program_id = account.program_id and pc.code = any ($16::text[])
    join promo_campaigns c on c.id = pc.campaign_id
    where cardinality($16::text[]) > 0
)
select answer.fingerprint, answer.status_code, answer.media_type, answer.body,
       account.id, account.program_id, account.posted, account.reserved, account.debt,
       account.blocked, account.version, account.hold_ttl_seconds_default,
       account.hold_ttl_seconds_max, account.expiry_days, account.rules_expiry,
       account.key_points_per_call_max, account.key_points_per_day_max, account.now,
       account.lots, account.open_hold, account.document_operation, account.card,
       account.bonus_periods, account.birthday,
       hold.id as hold_id, hold.account_id as hold_account_id, hold.points as hold_points,
       hold.status as hold_status, hold.expires_at as hold_expires_at,
       hold.document_id as hold_document_id, hold.receipt as hold_receipt,
       hold.created_at as hold_created_at, hold.operation_id as hold_operation_id,
       hold.allocations as hold_allocations,
       original.id as original_id, original.account_id as original_account_id,
       original.type as original_type, original.points as original_points,
       original.refunded_points as original_refunded_points,
       original.redeemed_points as original_redeemed_points,
       original.returned_points as original_returned_points,
       original.movements as original_movements, original.moved_lots as original_lots,
       rules.version as rules_version, rules.rules::text as rules, rules.created_at as rules_at,
       standing.spend, standing.tier_floor, standing.referred_by, standing.promoted_by,
       standing.membership as membership,
       bought.lines as bought_lines, bought.created_at as bought_at,
       bought.rules_version as bought_version, bought.rules as bought_rules,
       bought.rules_at as bought_rules_at, bought.returned as bought_returned,
       bought.promoter_reward as bought_promoter_reward,
       promo.codes as promo_codes
from (values (1)) as one (one)
left join answer on true
left join account on true
left join hold on true
left join original on true
left join rules on true
left join standing on true
left join bought on true
left join promo on true;

-- name: lock_turn
-- The locked turn: in a transaction, the account's row lock taken before load_turn, so the
-- load sees the account's latest state and nothing changes it until the commit. A merged
-- customer's id locks the survivor's account, which load_turn reads for it.
select from accounts
where id = coalesce((select c.merged_into from customers c where c.id = $1), $1)
for update;

-- name: apply_plan
-- A decided write in one statement, atomic without a transaction around it. It takes effect
-- only if the account row is still the version the decision read ($37): that row is locked
-- first, and every write below is drawn from it, so a stale decision writes nothing and the
-- caller decides again. Points a till's or shop's key creates ($52 the key, $53 the points, $54
-- the day's bound; $52 null when not counted) are counted per UTC day in key_points_daily, whose
-- upsert takes the day's row lock (a concurrent request of the same key waits, then sees this
-- count); when they would pass the bound nothing is written: "applied" 0 with "unchanged" 1.
-- Otherwise as write_operation ($1-$36), plus the hold a reserve opens ($38 null when none:
-- $39 points, $40 expiry, $41 and $42 its earmarks, $43 its receipt), the hold a commit or
-- cancel resolves (the operation's hold $6 when $44, its new status, is given; $45 the points
-- spent), the answer stored under the idempotency key ($46-$51), whose primary key refuses a
-- second effect under one key, what a refund takes from the operation it refunds ($7: $55
-- points, $56 redeemed points given back; the CHECKs refuse more than the original, I6), the
-- receipt a purchase records ($57 null when none: $58-$61), the events told after the
-- operation's own, in order ($62 their types, $63 their payloads),
-- the lines a return takes back from the purchase $7 ($64-$68, empty for none), and the bonus
-- an accrual claims for its period ($69 its kind, null for none; $70 the period), whose primary
-- key refuses a second grant in one period. The promo codes a purchase applies ($71 the codes,
-- $72 their campaigns, $73 the points and $74 the discount each gave, $75 each campaign's
-- per-customer cap; empty for none) each count one use on the code, the campaign and the
-- customer's uses of the campaign: a count past its cap fails its CHECK and with it the whole
-- statement, so no purchase is written with a use its cap refuses, and no use without it.
with unchanged as (
    select id from accounts where id = $3 and xmin::text::bigint = $37 for update
), charged as (
    insert into key_points_daily as daily (key_id, day, points)
    select $52::uuid, ($16::timestamptz at time zone 'UTC')::date, $53::bigint
    from unchanged where $52::uuid is not null and $53::bigint <= $54::bigint
    on conflict (key_id, day) do update set points = daily.points + excluded.points
    where daily.points + excluded.points <= $54::bigint
    returning daily.points
), guard as (
    update accounts set posted = $27, reserved = $28, debt = $33
    from unchanged
    where accounts.id = unchanged.id and ($52::uuid is null or exists (select from charged))
    returning accounts.id
), operation as (
    insert into operations (id, program_id, account_id, type, points, hold_id, refund_of,
                            document_id, document_name, document_comment, reason, channel,
                            key_id, store_id, available_after, created_at, rules_version,
                            debt_delta, redeemed_points, returned_points)
    select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $31, $32,
           $35, $36
    from guard
), new_lot as (
    insert into lots (id, program_id, account_id, operation_id, points, remaining, held,
                      activates_at, expires_at)
    select $17, $2, $3, $1, $18, $34, 0, $19, $20
    from guard where $17::uuid is not null
), changed_lots as (
    update lots set remaining = changed.remaining, held = changed.held
    from unnest($21::uuid[], $22::bigint[], $23::bigint[]) as changed (id, remaining, held),
         guard
    where lots.id = changed.id
), entries as (
    insert into entries (program_id, operation_id, account_id, lot_id, points)
    select $2, $1, entry.account_id, entry.lot_id, entry.points
    from unnest($24::uuid[], $25::uuid[], $26::bigint[]) as entry (account_id, lot_id, points),
         guard
), events as (
    insert into outbox (program_id, operation_id, type, payload)
    select $2, $1, told.type, told.payload
    from (select event_type as type, $30::jsonb as payload, n
          from unnest($29::text[]) with ordinality as own (event_type, n)
          union all
          select more.type, more.payload::jsonb, cardinality($29::text[]) + more.n
          from unnest($62::text[], $63::text[]) with ordinality as more (type, payload, n)
         ) as told, guard
    order by told.n
), purchase as (
    insert into purchases (operation_id, program_id, account_id, amount_minor, money_minor, tier,
                           lines, created_at, fiscal)
    select $1, $2, $3, $57, $58, $59, $60::jsonb, $16, $61::jsonb
    from guard where $57::bigint is not null
), new_hold as (
    insert into holds (id, program_id, account_id, operation_id, points, status, expires_at,
                       store_id, document_id, created_at, receipt)
    select $38, $2, $3, $1, $39, 'active', $40, $14, $8, $16, $43::jsonb
    from guard where $38::uuid is not null
), allocations as (
    insert into hold_allocations (hold_id, lot_id, points)
    select $38, allocation.lot_id, allocation.points
    from unnest($41::uuid[], $42::bigint[]) as allocation (lot_id, points), guard
    where $38::uuid is not null
), resolved as (
    update holds set status = $44, committed_points = $45, resolved_at = $16, resolved_by = $1
    from guard
    where holds.id = $6 and holds.status = 'active' and $44::text is not null
    returning holds.id
), refunded as (
    update operations
    set refunded_points = refunded_points + $55, returned_points = returned_points + $56
    from guard
    where operations.id = $7 and $55::bigint is not null
), returns as (
    insert into purchase_returns (operation_id, purchase_id, line_id, quantity, earned_points,
                                  redeemed_points, money_minor, created_at)
    select $1, $7, line.line_id, line.quantity, line.earned_points, line.redeemed_points,
           line.money_minor, $16
    from unnest($64::text[], $65::integer[], $66::bigint[], $67::bigint[], $68::bigint[])
        as line (line_id, quantity, earned_points, redeemed_points, money_minor), guard
), granted as (
    insert into bonus_grants (account_id, kind, period, operation_id)
    select $3, $69, $70, $1 from guard where $69::text is not null
), promo_code_uses as (
    update promo_codes set used = promo_codes.used + 1
    from unnest($71::uuid[]) as applied (code_id), guard
    where promo_codes.id = applied.code_id
), promo_campaign_uses as (
    update promo_campaigns set used = promo_campaigns.used + 1
    from unnest($72::uuid[]) as applied (campaign_id), guard
    where promo_campaigns.id = applied.campaign_id
), promo_customer_counts as (
    insert into promo_customer_uses as counted (campaign_id, account_id, used, uses_max)
    select applied.campaign_id, $3, 1, applied.cap
    from unnest($72::uuid[], $75::integer[]) as applied (campaign_id, cap), guard
    on conflict (campaign_id, account_id)
    do update set used = counted.used + 1, uses_max = excluded.uses_max
), promo_used as (
    insert into promo_uses (operation_id, code_id, campaign_id, program_id, account_id, points,
                            discount_minor, created_at)
    select $1, applied.code_id, applied.campaign_id, $2, $3, applied.points, applied.discount,
           $16
    from unnest($71::uuid[], $72::uuid[], $73::bigint[], $74::bigint[])
        as applied (code_id, campaign_id, points, discount), guard
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $46, $47, $48, $49, $50, $51 from guard
)
select (select count(*) from unchanged) as unchanged, (select count(*) from guard) as applied,
       (select count(*) from resolved) as resolved;
