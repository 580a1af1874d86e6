-- name: lock_settlements
-- Closing statements of program $1 queue here, in the closing transaction: the second sees the
-- first's statement in its own load, so two overlapping periods are never both closed.
select pg_advisory_xact_lock(hashtextextended('settlement:' || $1::uuid::text, 0));

-- name: settlement_facts
-- What closing the period [$3, $4) of program $1 (scoped to $2; null: the operator) is decided
-- on: its currency, its time zone (the messaging settings', else Europe/Moscow), the period's
-- bounds as midnights in that zone, the closed statement it overlaps (the earliest), if any,
-- and the database clock. No row: no such program.
select p.id as program_id, p.currency, z.time_zone,
       ($3::date)::timestamp at time zone z.time_zone as starts_at,
       ($4::date)::timestamp at time zone z.time_zone as ends_at,
       (select s.id from settlement_statements s
        where s.program_id = p.id
          and s.starts_at < ($4::date)::timestamp at time zone z.time_zone
          and s.ends_at > ($3::date)::timestamp at time zone z.time_zone
        order by s.starts_at limit 1) as overlapping,
       clock_timestamp() as now
from programs p
cross join lateral (
    select coalesce((select time_zone from message_settings where program_id = p.id),
                    'Europe/Moscow') as time_zone
) z
where p.id = $1 and ($2::uuid is null or p.id = $2);

-- name: settlement_lines
-- The lines of program $1's period [$2, $3), at most $4: what each redemption made in the period
-- (a commit, a purchase paid partly with points) took from lots, and what each refund made in
-- the period gave back to lots of the redemption it refunds, summed per operation and earning
-- party, where the earning party is not the redeeming one. The redeeming party is the merchant
-- of the redemption's store when it was made (a refund settles against its redemption's
-- store, not its own); the earning party is the merchant of the store of the operation that
-- made the lot, when it made it. A lot a refund made anew (its own lot had expired meanwhile)
-- counts as earned where the redemption's last-spent expired lot was. Each line is valued with
-- the rules version of its redemption: the one it recorded, else the one in force then.
with moved as (
    select o.id as operation_id, o.type as operation_type, null::uuid as refund_of,
           o.created_at, o.id as redemption_id, -e.points as points, e.lot_id
    from operations o
    join entries e on e.operation_id = o.id and e.lot_id is not null and e.points < 0
    where o.program_id = $1 and o.created_at >= $2 and o.created_at < $3
      and (o.type = 'commit' or (o.type = 'purchase' and o.redeemed_points > 0))
    union all
    select o.id, o.type, o.refund_of, o.created_at, r.id, -e.points, e.lot_id
    from operations o
    join operations r on r.id = o.refund_of
         and (r.type = 'commit' or (r.type = 'purchase' and r.redeemed_points > 0))
    join entries e on e.operation_id = o.id and e.lot_id is not null and e.points > 0
    where o.program_id = $1 and o.type = 'refund' and o.created_at >= $2 and o.created_at < $3
), placed as (
    select m.operation_id, m.operation_type, m.refund_of, m.created_at, m.points,
           coalesce(r.store_id, (select h.store_id from holds h where h.id = r.hold_id))
               as store_id,
           r.created_at as redeemed_at,
           coalesce(r.rules_version,
                    (select max(pr.version) from program_rules pr
                     where pr.program_id = $1 and pr.created_at <= r.created_at),
                    0) as rules_version,
           eo.store_id as earning_store_id, eo.created_at as earned_at
    from moved m
    join operations r on r.id = m.redemption_id
    join lots l on l.id = m.lot_id
    join operations lo on lo.id = l.operation_id
    left join lateral (
        select l2.operation_id from entries e2 join lots l2 on l2.id = e2.lot_id
        where lo.type = 'refund' and e2.operation_id = lo.refund_of and e2.points < 0
          and l2.expires_at <= lo.created_at
        order by e2.id desc
        limit 1
    ) reissued on true
    join operations eo on eo.id = coalesce(reissued.operation_id, lo.id)
), parties as (
    select p.*, store_merchant($1, p.store_id, p.redeemed_at) as merchant_id,
           store_merchant($1, p.earning_store_id, p.earned_at) as earning_merchant_id
    from placed p
)
select operation_id, operation_type, refund_of, created_at, store_id, merchant_id,
       earning_store_id, earning_merchant_id, sum(points)::bigint as points, rules_version
from parties
where merchant_id is distinct from earning_merchant_id
group by operation_id, operation_type, refund_of, created_at, store_id, merchant_id,
         earning_store_id, earning_merchant_id, rules_version
having sum(points) <> 0
order by created_at, operation_id, earning_store_id nulls first, earning_merchant_id nulls first
limit $4;

-- name: rules_of_versions
-- Versions $2 of program $1's rules, as stored.
select version, rules::text as rules
from program_rules
where program_id = $1 and version = any($2::integer[]);

-- name: insert_settlement
-- Statement $7 of program $8 (period $9-$10 in zone $11, [$12, $13), currency $14, $15 lines,
-- by key $16 at $17) with its totals ($18-$25) and lines ($26-$37) and the answer ($1-$6), in
-- one statement; nothing is written when the key already has an answer.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
), statement as (
    insert into settlement_statements (id, program_id, period_from, period_to, time_zone,
                                       starts_at, ends_at, currency, lines, key_id, created_at)
    select $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17
    from answer
    returning id
), totals as (
    insert into settlement_totals (statement_id, position, merchant_id, merchant_name,
                                   receivable_points, payable_points, receivable_minor,
                                   payable_minor, net_minor)
    select s.id, t.*
    from statement s,
         unnest($18::integer[], $19::uuid[], $20::text[], $21::bigint[], $22::bigint[],
                $23::numeric[], $24::numeric[], $25::numeric[]) as t
    returning 1
), lines as (
    insert into settlement_lines (statement_id, position, operation_id, operation_type,
                                  refund_of, created_at, store_id, merchant_id,
                                  earning_store_id, earning_merchant_id, points,
                                  point_value_minor, money_minor)
    select s.id, l.*
    from statement s,
         unnest($26::integer[], $27::uuid[], $28::text[], $29::uuid[], $30::timestamptz[],
                $31::text[], $32::uuid[], $33::text[], $34::uuid[], $35::bigint[],
                $36::bigint[], $37::numeric[]) as l
    returning 1
)
select id, (select count(*) from totals) as totals, (select count(*) from lines) as lines
from statement;

-- name: get_settlement
-- Statement $1 with its totals (as a JSON array in position order), when it is in program $2
-- (null: any program).
select s.id, s.program_id, s.period_from, s.period_to, s.time_zone, s.starts_at, s.ends_at,
       s.currency, s.lines, s.key_id, s.created_at,
       (select coalesce(json_agg(json_build_object(
                   'merchant_id', t.merchant_id, 'merchant_name', t.merchant_name,
                   'receivable_points', t.receivable_points, 'payable_points', t.payable_points,
                   'receivable_minor', t.receivable_minor, 'payable_minor', t.payable_minor,
                   'net_minor', t.net_minor) order by t.position), '[]')::text
        from settlement_totals t where t.statement_id = s.id) as totals
from settlement_statements s
where s.id = $1 and ($2::uuid is null or s.program_id = $2);

-- name: list_settlements
-- A page of program $1's statements, newest first, older than position ($2, $3), at most $4,
-- without their totals.
select s.id, s.program_id, s.period_from, s.period_to, s.time_zone, s.starts_at, s.ends_at,
       s.currency, s.lines, s.key_id, s.created_at, '[]' as totals
from settlement_statements s
where s.program_id = $1 and (s.created_at, s.id) < ($2::timestamptz, $3::uuid)
order by s.created_at desc, s.id desc
limit $4;

-- name: settlement_line_page
-- Statement $1's lines after position $2, at most $3, in position order; a merchant's ($4) key
-- reads only the lines where its merchant earned or redeemed (null: every line).
select position, operation_id, operation_type, refund_of, created_at, store_id, merchant_id,
       earning_store_id, earning_merchant_id, points, point_value_minor,
       money_minor::bigint as money_minor
from settlement_lines
where statement_id = $1 and position > $2
  and ($4::uuid is null or merchant_id = $4 or earning_merchant_id = $4)
order by position
limit $3;

-- name: liability_points
-- Program $1's outstanding points by the party that earned them: what open lots not expired by
-- now still hold (pending and held points included), by the merchant of the store of the
-- operation that made each lot when it made it (a lot a refund made anew: where the
-- redemption's last-spent expired lot was earned); null: the program's own side.
select store_merchant($1, eo.store_id, eo.created_at) as merchant_id,
       sum(l.remaining)::bigint as points
from lots l
join operations lo on lo.id = l.operation_id
left join lateral (
    select l2.operation_id from entries e2 join lots l2 on l2.id = e2.lot_id
    where lo.type = 'refund' and e2.operation_id = lo.refund_of and e2.points < 0
      and l2.expires_at <= lo.created_at
    order by e2.id desc
    limit 1
) reissued on true
join operations eo on eo.id = coalesce(reissued.operation_id, lo.id)
where l.program_id = $1 and l.open
  and (l.expires_at is null or l.expires_at > clock_timestamp())
group by 1;
