-- name: enrollment
-- What an enrollment in program $1 decides on, in one statement: the program as new account $2
-- would see it (settings, the expiry of its newest rules, the database clock), its newest rules
-- (none: the defaults), whether card $3 is already taken in it, whether $4 is one of its
-- customers (the referrer; true when none is named), and which of its customers has phone $5
-- (a number given in international form, read without the program's country; null: not
-- asked), and the promoter whose code is $6 (decision 0034; null: none or unknown).
select $2::uuid as id, p.id as program_id, p.country, 0::bigint as posted, 0::bigint as reserved,
       0::bigint as debt, false as blocked, p.hold_ttl_seconds_default, p.hold_ttl_seconds_max,
       p.expiry_days, (r.rules -> 'expiry')::text as rules_expiry, p.key_points_per_call_max,
       p.key_points_per_day_max, clock_timestamp() as now,
       r.version as rules_version, r.rules::text as rules, r.created_at as rules_at,
       exists (select from cards k where k.program_id = p.id and k.number = $3::text)
           as card_taken,
       ($4::uuid is null or exists (select from customers c
                                    where c.id = $4 and c.program_id = p.id)) as referrer_found,
       (select coalesce(c.merged_into, c.id) from customers c
        where c.program_id = p.id and c.phone = $5::text) as holder,
       (select m.id from promoters m where m.program_id = p.id and m.code = $6::text)
           as promoter_id
from programs p
left join lateral (select version, rules, created_at from program_rules
                   where program_id = p.id order by version desc limit 1) r on true
where p.id = $1;

-- name: enroll_customer
-- An enrollment in one statement: customer $7 of program $8 ($9 phone, $10 name, $18 e-mail,
-- $19 locale, $11 birthday, $12 attributes, $13 referred by, $14 enrolled at, $20 the promoter
-- who brought them), its account, and
-- card $15
-- (none: null) issued by key $16 with its journal's first event. The answer ($1-$6) is stored
-- with it
-- unless $17: a welcome bonus follows in the same transaction, whose plan stores the answer.
-- A phone or card taken meanwhile fails on its unique key and nothing is written. Returns the
-- new account's row version, at which that plan applies.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 where not $17::boolean
    on conflict do nothing
    returning key_id
), customer as (
    insert into customers (id, program_id, phone, name, email, locale, birthday, attributes,
                           referred_by, created_at, promoter_id)
    select $7, $8, $9, $10, $18, $19, $11, $12::jsonb, $13, $14, $20
    where $17::boolean or exists (select from answer)
    returning id
), account as (
    insert into accounts (id, program_id, kind, customer_id)
    select id, $8, 'customer', id from customer
    returning xmin::text::bigint as version
), card as (
    insert into cards (program_id, number, customer_id, status, reason, created_at, updated_at)
    select $8, $15, id, 'active', 'issued', $14, $14 from customer where $15::text is not null
    returning number
), journal as (
    insert into card_events (program_id, number, status, reason, key_id, created_at)
    select $8, number, 'active', 'issued', $16, $14 from card
)
select version from account;

-- name: find_customer_by_phone
-- Lookup at the till and the answer to a second enrollment of the same phone; the phone of a
-- customer merged into another finds the survivor.
select coalesce(merged_into, id) from customers where program_id = $1 and phone = $2;

-- name: get_customer
-- The customer card as the API shows it, with the account's block and every card, and the
-- paid membership in force as last written with the database clock (decision 0035: its
-- state is decided by its dates); the id of a customer merged into another shows the survivor.
select c.id, c.program_id, c.phone, c.name, c.email, c.locale, c.birthday,
       c.attributes::text as attributes, c.created_at, a.blocked_reason, c.erased_at,
       coalesce(
           (select json_agg(json_build_object('number', k.number, 'status', k.status,
                                              'reason', k.reason) order by k.created_at)
            from cards k where k.customer_id = c.id), '[]')::text as cards,
       (select json_build_object(
                   'id', m.id, 'customer_id', m.customer_id, 'anchor_at', m.anchor_at,
                   'periods', m.periods, 'version', m.version, 'status', m.status,
                   'level', (select row_to_json(l) from membership_levels l
                             where l.id = m.level_id))::text
        from memberships m
        where m.status in ('active', 'grace')
          and (m.customer_id = c.id or m.customer_id in (select d.id from customers d
                                           where d.merged_into = c.id))
        order by m.grace_ends_at desc, m.id limit 1) as membership,
       clock_timestamp() as now
from customers c join accounts a on a.id = c.id
where c.id = coalesce((select m.merged_into from customers m where m.id = $1), $1)
  and ($2::uuid is null or c.program_id = $2);

-- name: customer_change
-- What a change of one customer decides on: the customer card as get_customer shows it, the
-- row versions of the account and of the customer (a write applies only at the one it
-- changes), the program's country (a new phone's region), the database clock, and whether
-- card $3 is already taken in the customer's program. A merged customer's id reads the survivor.
select c.id, c.program_id, c.phone, c.name, c.email, c.locale, c.birthday,
       c.attributes::text as attributes, c.created_at, a.blocked_reason, c.erased_at,
       coalesce(
           (select json_agg(json_build_object('number', k.number, 'status', k.status,
                                              'reason', k.reason) order by k.created_at)
            from cards k where k.customer_id = c.id), '[]')::text as cards,
       a.xmin::text::bigint as version, c.xmin::text::bigint as customer_version,
       p.country, clock_timestamp() as now,
       exists (select from cards k where k.program_id = c.program_id and k.number = $3::text)
           as card_taken
from customers c
join accounts a on a.id = c.id
join programs p on p.id = c.program_id
where c.id = coalesce((select m.merged_into from customers m where m.id = $1), $1)
  and ($2::uuid is null or c.program_id = $2);

-- name: customer_accounts
-- Reads of a customer's history check the customer belongs to the caller's program first, and
-- learn whose it is: the customer (the survivor, for the id of a customer merged into another)
-- first, then the accounts merged into them, whose operations their statement shows too.
select array[c.id] || array(select m.id from customers m where m.merged_into = c.id
                            order by m.created_at, m.id) as accounts
from customers c
where c.id = coalesce((select m.merged_into from customers m where m.id = $1), $1)
  and ($2::uuid is null or c.program_id = $2);

-- name: issue_card
-- Card $8 of program $7 issued to customer $9 by key $10 at $11, with its journal's first
-- event and the answer ($1-$6) in one statement. A number taken meanwhile fails on the card's
-- primary key and nothing is written.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
), card as (
    insert into cards (program_id, number, customer_id, status, reason, created_at, updated_at)
    select $7, $8, $9, 'active', 'issued', $11, $11 from answer
    returning number
), journal as (
    insert into card_events (program_id, number, status, reason, key_id, created_at)
    select $7, number, 'active', 'issued', $10, $11 from card
)
select number from card;

-- name: card_change
-- What a block or unblock of card $1 in program $2 decides on: its customer, status and
-- reason, its journal (oldest first) and the database clock.
select k.customer_id, k.status, k.reason, clock_timestamp() as now,
       coalesce((select json_agg(json_build_object('status', e.status, 'reason', e.reason,
                                                   'key_id', e.key_id,
                                                   'created_at', e.created_at) order by e.id)
                 from card_events e
                 where e.program_id = k.program_id and e.number = k.number), '[]')::text
           as events
from cards k
where k.number = $1 and k.program_id = $2;

-- name: find_card
-- Lookup by card number at the till.
select customer_id, status from cards where program_id = $1 and number = $2;

-- name: set_card_status
-- Card $8 of program $7 goes from status $9 to $10 with reason $11, by key $12 at $13, with a
-- journal event and the answer ($1-$6), in one statement. The card's row is locked first and
-- must still be in status $9 (rechecked after the lock): a change decided on a status that
-- moved meanwhile writes nothing, the answer included. A card with a wallet pass queues a
-- wallet change (decision 0029): a card's status writes no outbox event, and its pass shows it.
with card as (
    select program_id, number, customer_id from cards
    where program_id = $7 and number = $8 and status = $9
    for update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from card
    on conflict do nothing
    returning key_id
), changed as (
    update cards set status = $10, reason = $11, updated_at = $13
    from answer
    where cards.program_id = $7 and cards.number = $8
), journal as (
    insert into card_events (program_id, number, status, reason, key_id, created_at)
    select $7, $8, $10, $11, $12, $13 from answer
), wallet as (
    -- The card's Google Wallet object, if it has one, shows the new state (decision 0030).
    update google_wallet_objects o
    set changes = o.changes + 1,
        next_attempt_at = case when o.changes = o.synced then clock_timestamp()
                               else o.next_attempt_at end
    from answer
    where o.program_id = $7 and o.card_number = $8
), apple_passes as (
    -- The card's Apple Wallet pass shows its status: a wallet change (decision 0029).
    insert into wallet_changes (wallet, program_id, customer_id)
    select 'apple', card.program_id, card.customer_id from card, answer
    where exists (
        select 1 from wallet_passes p where p.program_id = $7 and p.card_number = $8
    )
)
select count(*) from answer;

-- name: card_journal
-- The history of one card, oldest first.
select status, reason, key_id, created_at from card_events
where program_id = $1 and number = $2 order by id;

-- name: set_account_block
-- Account $7 blocked with reason $9 (null: unblocked), with the answer ($1-$6) in one
-- statement, only if the account is still at row version $8 (locked, then rechecked): the
-- answer shows the customer as decided, so a change decided on an account that moved
-- meanwhile writes nothing.
with unchanged as (
    select id from accounts where id = $7 and xmin::text::bigint = $8 for update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from unchanged
    on conflict do nothing
    returning key_id
)
update accounts set blocked_reason = $9
from answer
where accounts.id = $7
returning accounts.id;

-- name: list_customers
-- A page of program $1's customers, newest first, older than position ($2, $3), at most $13:
-- with their points as balance_of counts them (available: what open lots active and
-- unexpired at the database clock hold free; pending: what lots not yet active hold),
-- narrowed by each filter given (null: not asked): phone $4 (E.164), card $5, a name starting
-- with $6 (case-insensitive; its LIKE characters escaped by the caller), manual tier $7,
-- blocked $8, available points from $9 to $10, enrolled from $11 up to (not including) $12,
-- and the tier in force (as tier_for ranks it under the program's rules) when $14 is given:
-- the money paid over the last $16 days less returns, raised to the threshold of the manual
-- tier when there is one ($17 the rules' tier names, $18 their thresholds), must reach $14
-- and stay below $15 (null: the top tier).
select c.id, c.phone, c.name, c.birthday, c.created_at, c.tier_floor, a.blocked_reason,
       a.reserved, a.debt, coalesce(points.available, 0)::bigint as available,
       coalesce(points.pending, 0)::bigint as pending
from customers c
join accounts a on a.id = c.id
cross join (select clock_timestamp() as now) clock
left join lateral (
    select sum(l.remaining - l.held) filter (
               where l.activates_at <= clock.now
                 and (l.expires_at is null or l.expires_at > clock.now)) as available,
           sum(l.remaining) filter (where l.activates_at > clock.now) as pending
    from lots l
    where l.account_id = c.id and l.open
) points on true
left join lateral (
    select greatest(
               coalesce((select sum(p.money_minor - coalesce(
                                    (select sum(pr.money_minor) from purchase_returns pr
                                     where pr.purchase_id = p.operation_id), 0))
                         from purchases p
                         where p.account_id = c.id
                           and p.created_at > clock.now - make_interval(days => $16::integer)),
                        0),
               coalesce((select tier.threshold
                         from unnest($17::text[], $18::bigint[]) as tier (name, threshold)
                         where tier.name = c.tier_floor), -1)
           ) as reach
    where $14::bigint is not null
) standing on true
where c.program_id = $1 and c.merged_into is null
  and (c.created_at, c.id) < ($2::timestamptz, $3::uuid)
  and ($4::text is null or c.phone = $4)
  and ($5::text is null or exists (select from cards k
                                   where k.program_id = c.program_id and k.number = $5
                                     and k.customer_id = c.id))
  and ($6::text is null or lower(c.name) like lower($6) || '%' escape '\')
  and ($7::text is null or c.tier_floor = $7)
  and ($8::boolean is null or (a.blocked_reason is not null) = $8)
  and ($9::bigint is null or coalesce(points.available, 0) >= $9)
  and ($10::bigint is null or coalesce(points.available, 0) <= $10)
  and ($11::timestamptz is null or c.created_at >= $11)
  and ($12::timestamptz is null or c.created_at < $12)
  and ($14::bigint is null
       or (standing.reach >= $14 and ($15::bigint is null or standing.reach < $15)))
order by c.created_at desc, c.id desc
limit $13;

-- name: update_customer
-- Customer $7's personal data as decided ($9 phone, $10 name, $11 e-mail, $12 birthday, $13
-- attributes, $19 locale), with history entry $14 (by key $15, reason $16, the fields moved $17, at $18)
-- and the answer ($1-$6), in one statement, only if the customer's row is still at version $8
-- (locked, then rechecked): a change decided on data that moved meanwhile writes nothing. A
-- phone taken meanwhile in the program fails on its unique key and nothing is written.
with unchanged as (
    select id, program_id from customers
    where id = $7 and xmin::text::bigint = $8
    for update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from unchanged
    on conflict do nothing
    returning key_id
), updated as (
    update customers
    set phone = $9, name = $10, email = $11, birthday = $12, attributes = $13::jsonb,
        locale = $19
    from answer
    where customers.id = $7
), history as (
    insert into customer_changes (id, program_id, customer_id, key_id, reason, changes,
                                  created_at)
    select $14, unchanged.program_id, $7, $15, $16, $17::jsonb, $18
    from unchanged, answer
)
select count(*) from answer;

-- name: customer_changes
-- A page of customer $1's history, newest first, older than position ($2, $3), at most $4.
select id, created_at, key_id, reason, changes::text as changes
from customer_changes
where customer_id = $1 and (created_at, id) < ($2::timestamptz, $3::uuid)
order by created_at desc, id desc
limit $4;

-- name: record_consent
-- Consent $7 of customer $8 in program $9 on channel $10 ($11 granted or withdrawn, through
-- $12, to wording $13, by key $14, at $15) with the answer ($1-$6), in one statement. The log
-- only grows, so nothing races but the key.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
)
insert into customer_consents (id, program_id, customer_id, channel, granted, source, wording,
                               key_id, recorded_at)
select $7, $9, $8, $10, $11, $12, $13, $14, $15 from answer
returning id;

-- name: consents_in_force
-- The consent in force on each channel of customer $1: its newest entry.
select distinct on (channel) id, channel, granted, source, wording, key_id, recorded_at
from customer_consents
where customer_id = $1
order by channel, recorded_at desc, id desc;

-- name: consent_history
-- A page of customer $1's consent log, newest first, older than position ($2, $3), at most $4.
select id, channel, granted, source, wording, key_id, recorded_at
from customer_consents
where customer_id = $1 and (recorded_at, id) < ($2::timestamptz, $3::uuid)
order by recorded_at desc, id desc
limit $4;

-- name: erase_customer
-- Erases customer $7's personal data by key $10 at $9 for reason $11, with the answer ($1-$6),
-- in one statement, only if the customer's row is still at version $8 (locked, then
-- rechecked). The phone becomes the erased marker; name, e-mail, locale, birthday and
-- attributes go; the history keeps which fields moved when, not their values, and gains the
-- erasure itself (entry $12); every card is deleted with a journal event; consents in force
-- are withdrawn (source "erasure"); the account is blocked, so nothing earns or spends on it;
-- the partner contacts linked to the customer are forgotten. The records merged into the
-- customer are erased with it: they were the same person. The ledger is left as it is.
with unchanged as (
    select id, program_id from customers
    where id = $7 and xmin::text::bigint = $8 and erased_at is null
    for update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from unchanged
    on conflict do nothing
    returning key_id
), erased as (
    update customers
    set phone = 'erased:' || customers.id::text, name = null, email = null, birthday = null,
        attributes = '{}', locale = null, erased_at = $9
    from answer
    where customers.id = $7 or customers.merged_into = $7
), blocked as (
    update accounts set blocked_reason = 'erased' from answer where accounts.id = $7
), deleted_cards as (
    update cards set status = 'deleted', reason = 'erased', updated_at = $9
    from answer
    where cards.customer_id = $7 and cards.status <> 'deleted'
    returning cards.program_id, cards.number
), journal as (
    insert into card_events (program_id, number, status, reason, key_id, created_at)
    select program_id, number, 'deleted', 'erased', $10, $9 from deleted_cards
), scrubbed as (
    update customer_changes
    set changes = (select coalesce(jsonb_object_agg(field, '{"erased": true}'::jsonb), '{}')
                   from jsonb_object_keys(customer_changes.changes) as field)
    from answer
    where customer_changes.customer_id = $7
       or customer_changes.customer_id in (select id from customers where merged_into = $7)
), erasure as (
    insert into customer_changes (id, program_id, customer_id, key_id, reason, changes,
                                  created_at)
    select $12, unchanged.program_id, $7, $10, $11, '{"erased": {"from": null, "to": true}}', $9
    from unchanged, answer
), withdrawn as (
    insert into customer_consents (id, program_id, customer_id, channel, granted, source,
                                   key_id, recorded_at)
    select gen_random_uuid(), unchanged.program_id, $7, held.channel, false, 'erasure', $10, $9
    from unchanged, answer,
         (select distinct on (channel) channel, granted from customer_consents
          where customer_id = $7 order by channel, recorded_at desc, id desc) as held
    where held.granted
), unlinked as (
    delete from channel_contacts using answer where channel_contacts.customer_id = $7
)
select count(*) from answer;

-- name: exported_lots
-- bonus export: program $1's customers not erased, one row per open lot (remaining > 0, held
-- points included, past-expiry lots the sweep has not reached yet included, so that the rows
-- sum to the lots' remaining), or one row without a lot for a customer who has none; with the
-- active and the blocked card numbers (deleted cards are left out). Read through a cursor,
-- ordered by customer so that a customer's rows stay together.
select c.id as customer_id, c.phone, c.name, c.email, c.birthday, c.tier_floor,
       a.blocked_reason,
       array(select k.number from cards k where k.customer_id = c.id and k.status = 'active'
             order by k.created_at, k.number) as cards,
       array(select k.number from cards k where k.customer_id = c.id and k.status = 'blocked'
             order by k.created_at, k.number) as blocked_cards,
       l.remaining as points, l.held, l.activates_at, l.expires_at
from customers c
join accounts a on a.id = c.id
left join lots l on l.account_id = c.id and l.open
where c.program_id = $1 and c.erased_at is null and c.merged_into is null
order by c.created_at, c.id, l.activates_at, l.id;

-- name: merge_facts
-- What a merge of customer $2 into customer $1 decides on, in one statement: each of the two
-- (in the caller's program $3; null: any) as get_customer shows them, with their account, its
-- open lots and row version, the customer their record was merged into and their manual tier;
-- and the database clock. One row per customer found.
select c.id, c.program_id, c.phone, c.name, c.email, c.locale, c.birthday,
       c.attributes::text as attributes, c.created_at, a.blocked_reason, c.erased_at,
       coalesce(
           (select json_agg(json_build_object('number', k.number, 'status', k.status,
                                              'reason', k.reason) order by k.created_at)
            from cards k where k.customer_id = c.id), '[]')::text as cards,
       c.merged_into, c.tier_floor, a.posted, a.reserved, a.debt,
       a.blocked_reason is not null as blocked, a.xmin::text::bigint as version,
       array(select row(l.id, l.points, l.remaining, l.held, l.activates_at, l.expires_at)
             from lots l where l.account_id = a.id and l.open
             order by l.activates_at, l.id) as lots,
       clock_timestamp() as now
from customers c
join accounts a on a.id = c.id
where c.id in ($1, $2) and ($3::uuid is null or c.program_id = $3);

-- name: merge_customers
-- Customer $9 merged into customer $7 (program $12) in one statement, with the answer ($1-$6),
-- only while both accounts are at the versions the merge was decided on ($8 the survivor's, $10
-- the merged one's): both rows are locked first, in id order as every merge takes them, and
-- every write below is drawn from that guard, so a stale decision writes nothing. Operation $11
-- of type merge on the survivor's account moves lots $18 ($19 their remaining points) from the
-- merged account to the survivor's, each lot once off the one and once onto the other; the
-- survivor's account takes posted $14 and debt $15 (the merged account's debt $13 included),
-- the merged account keeps nothing and is blocked as merged. Every lot of the merged account,
-- emptied ones too (a refund of an old redemption restores into them), its cards (journaled),
-- purchases (the survivor's tier standing), bonus periods the survivor has not had, partner
-- contacts the survivor has no contact of that connection for (the rest are forgotten) and the
-- customers it referred go to the survivor; customers merged into the merged one earlier now
-- point at the survivor. $16 the survivor's manual tier after the merge, $17 the reason, $20 the
-- channel, $21 the key, $22 the time, $23 the balance available after, $24 and $25 the history
-- entries of survivor and merged, $26 the payload of the operation's events $28 (in order),
-- $27 the points moved.
with pair as (
    select id from accounts
    where (id = $7 and xmin::text::bigint = $8) or (id = $9 and xmin::text::bigint = $10)
    order by id
    for update
), guard as (
    select from pair having count(*) = 2
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from guard
    on conflict do nothing
    returning key_id
), survivor_account as (
    update accounts set posted = $14, debt = $15 from answer where accounts.id = $7
), merged_account as (
    update accounts set posted = 0, debt = 0, blocked_reason = 'merged'
    from answer where accounts.id = $9
), operation as (
    insert into operations (id, program_id, account_id, type, points, reason, channel, key_id,
                            available_after, created_at, debt_delta, merged_from)
    select $11, $12, $7, 'merge', $27, $17, $20, $21, $23, $22, $13, $9 from answer
), moved_lots as (
    update lots set account_id = $7 from answer where lots.account_id = $9
), entries as (
    insert into entries (program_id, operation_id, account_id, lot_id, points)
    select $12, $11, side.account_id, moved.lot_id, side.sign * moved.points
    from unnest($18::uuid[], $19::bigint[]) with ordinality as moved (lot_id, points, n),
         (values ($9::uuid, -1, 1), ($7::uuid, 1, 2)) as side (account_id, sign, turn),
         answer
    order by moved.n, side.turn
), people as (
    update customers
    set merged_into = case when customers.id = $7 then customers.merged_into else $7 end,
        referred_by = case when customers.referred_by = $9 then nullif($7, customers.id)
                           else customers.referred_by end,
        tier_floor = case when customers.id = $7 then $16 else customers.tier_floor end
    from answer
    where customers.id in ($7, $9) or customers.merged_into = $9 or customers.referred_by = $9
), moved_cards as (
    update cards set customer_id = $7, updated_at = $22
    from answer where cards.customer_id = $9
    returning cards.program_id, cards.number, cards.status
), journal as (
    insert into card_events (program_id, number, status, reason, key_id, created_at)
    select program_id, number, status, 'merged', $21, $22 from moved_cards
    where status <> 'deleted'
), moved_purchases as (
    update purchases set account_id = $7 from answer where purchases.account_id = $9
), moved_grants as (
    update bonus_grants g set account_id = $7
    from answer
    where g.account_id = $9
      and not exists (select from bonus_grants t
                      where t.account_id = $7 and t.kind = g.kind and t.period = g.period)
), moved_contacts as (
    update channel_contacts k set customer_id = $7
    from answer
    where k.customer_id = $9
      and not exists (select from channel_contacts t
                      where t.customer_id = $7 and t.connection_id = k.connection_id)
), dropped_contacts as (
    delete from channel_contacts k
    using answer
    where k.customer_id = $9
      and exists (select from channel_contacts t
                  where t.customer_id = $7 and t.connection_id = k.connection_id)
), history as (
    insert into customer_changes (id, program_id, customer_id, key_id, reason, changes,
                                  created_at)
    select entry.id, $12, entry.customer_id, $21, $17, entry.changes, $22
    from (values ($24::uuid, $7::uuid,
                  jsonb_build_object('merged_from', jsonb_build_object('from', null, 'to', $9))),
                 ($25::uuid, $9::uuid,
                  jsonb_build_object('merged_into', jsonb_build_object('from', null, 'to', $7))))
         as entry (id, customer_id, changes),
         answer
), events as (
    insert into outbox (program_id, operation_id, type, payload)
    select $12, $11, told.type, $26::jsonb
    from unnest($28::text[]) with ordinality as told (type, n), answer
    order by told.n
)
select count(*) from answer;
