-- name: insert_promo_campaign
-- Promo campaign $7 of program $8 made by key $9 ($10 name, $11-$12 its window, $13 channels,
-- $14 stores, $15 minimum receipt, $16 skus, $17 categories, $18 effect, $19 value, $20 total
-- cap, $21 per-customer cap, $22 stacking, $23 made at) with the answer ($1-$6) in one
-- statement: nothing when the key already has an answer.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
)
insert into promo_campaigns (id, program_id, key_id, name, starts_at, ends_at, channels, stores,
                             min_amount_minor, skus, categories, effect, value, uses_max,
                             uses_per_customer_max, stacking, created_at)
select $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23
from answer
returning id;

-- name: get_promo_campaign
-- Campaign $1 when it is program $2's, with its usage: the points and discount its codes gave,
-- the customers who used it, and its codes.
select c.id, c.program_id, c.key_id, c.name, c.starts_at, c.ends_at, c.channels, c.stores,
       c.min_amount_minor, c.skus, c.categories, c.effect, c.value, c.uses_max,
       c.uses_per_customer_max, c.stacking, c.created_at, c.used, c.ended_at,
       coalesce(u.points, 0) as points_given, coalesce(u.discount, 0) as discount_minor,
       (select count(*) from promo_customer_uses pc where pc.campaign_id = c.id) as customers,
       (select count(*) from promo_codes pc where pc.campaign_id = c.id) as codes
from promo_campaigns c
left join lateral (select sum(points)::bigint as points, sum(discount_minor)::bigint as discount
                   from promo_uses where campaign_id = c.id) u on true
where c.id = $1 and c.program_id = $2;

-- name: list_promo_campaigns
-- Program $1's campaigns older than ($2, $3), newest first, at most $4, each with its usage as
-- get_promo_campaign reads it (index ranges of promo_uses, promo_customer_uses, promo_codes).
select c.id, c.program_id, c.key_id, c.name, c.starts_at, c.ends_at, c.channels, c.stores,
       c.min_amount_minor, c.skus, c.categories, c.effect, c.value, c.uses_max,
       c.uses_per_customer_max, c.stacking, c.created_at, c.used, c.ended_at,
       coalesce(u.points, 0) as points_given, coalesce(u.discount, 0) as discount_minor,
       (select count(*) from promo_customer_uses pc where pc.campaign_id = c.id) as customers,
       (select count(*) from promo_codes pc where pc.campaign_id = c.id) as codes
from promo_campaigns c
left join lateral (select sum(points)::bigint as points, sum(discount_minor)::bigint as discount
                   from promo_uses where campaign_id = c.id) u on true
where c.program_id = $1 and (c.created_at, c.id) < ($2, $3)
order by c.created_at desc, c.id desc
limit $4;

-- name: end_promo_campaign
-- Ends campaign $7 of program $8 at $9 with the answer ($1-$6) in one statement, under the
-- campaign's row lock and only while it is still running (not ended, its end not passed):
-- nothing when the key already has an answer or it ended meanwhile.
with campaign as (
    select id from promo_campaigns
    where id = $7 and program_id = $8 and ended_at is null and (ends_at is null or ends_at > $9)
    for update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from campaign on conflict do nothing
    returning key_id
)
update promo_campaigns set ended_at = $9
from answer
where promo_campaigns.id = $7
returning promo_campaigns.id;

-- name: insert_promo_codes
-- Codes of campaign $7 in program $8 ($9 ids, $10 codes, $11 kinds, $12 customers, $13 caps,
-- $14 made at) with the answer ($1-$6) in one statement, guarded by the campaign's key-share
-- lock (so a code of a campaign is only written while it is there, without waiting for the
-- purchases that count its uses); a code taken in the program fails the statement whole on
-- promo_codes_code.
with campaign as (
    select id from promo_campaigns where id = $7 and program_id = $8 for key share
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from campaign on conflict do nothing
    returning key_id
), made as (
    insert into promo_codes (id, program_id, campaign_id, code, kind, customer_id, uses_max,
                             created_at)
    select made.id, $8, $7, made.code, made.kind, made.customer_id, made.uses_max, $14
    from unnest($9::uuid[], $10::text[], $11::text[], $12::uuid[], $13::bigint[])
        as made (id, code, kind, customer_id, uses_max), answer
    returning id
)
select count(*) as made from made;

-- name: promo_codes_of
-- Every code of campaign $1, oldest first.
select id, campaign_id, code, kind, customer_id, uses_max, used, created_at
from promo_codes where campaign_id = $1
order by created_at, id;

-- name: find_promo_codes
-- Program $1's codes among $3 (normalized) with their campaigns and customer $2's uses of each,
-- as load_turn reads them.
select coalesce(json_agg(json_build_object(
           'id', pc.id, 'code', pc.code,
               -- a personal code of a customer merged since is the survivor's
               'customer_id', coalesce((select m.merged_into from customers m
                                        where m.id = pc.customer_id), pc.customer_id),
           'uses_max', pc.uses_max, 'used', pc.used,
           'customer_used', coalesce((select u.used from promo_customer_uses u
                                      where u.campaign_id = c.id and u.account_id = $2), 0),
           'campaign', json_build_object(
               'id', c.id, 'starts_at', c.starts_at, 'ends_at', least(c.ends_at, c.ended_at),
               'channels', c.channels, 'stores', c.stores,
               'min_amount_minor', c.min_amount_minor, 'skus', c.skus,
               'categories', c.categories, 'effect', c.effect, 'value', c.value,
               'uses_max', c.uses_max, 'uses_per_customer_max', c.uses_per_customer_max,
               'stacking', c.stacking, 'used', c.used))), '[]')::text as codes
from promo_codes pc join promo_campaigns c on c.id = pc.campaign_id
where pc.program_id = $1 and pc.code = any ($3::text[]);

-- name: promo_code_taken
-- Whether program $1 has code $2 (normalized) already.
select exists (select from promo_codes where program_id = $1 and code = $2) as taken;

-- name: customer_in_program
select exists (select from customers where id = $1 and program_id = $2) as found;
