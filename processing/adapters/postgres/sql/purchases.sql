-- name: tier_inputs
-- What a tier is computed from: money the customer paid on purchases since $2, less what
-- returns gave back, and the manually set tier that acts as a floor. The sum stays numeric: a
-- bigint overflowed once and broke every priced call for the customer. With them the paid
-- membership in force as last written (decision 0035), whose privileges follow its dates.
select coalesce((
           select sum(p.money_minor - coalesce(
               (select sum(r.money_minor) from purchase_returns r
                where r.purchase_id = p.operation_id), 0))
           from purchases p where p.account_id = $1 and p.created_at > $2
       ), 0)::numeric as spend,
       (select tier_floor from customers where id = $1) as tier_floor,
       (select json_build_object(
                   'id', m.id, 'customer_id', m.customer_id, 'anchor_at', m.anchor_at,
                   'periods', m.periods, 'version', m.version, 'status', m.status,
                   'level', (select row_to_json(l) from membership_levels l
                             where l.id = m.level_id))::text
        from memberships m
        where m.status in ('active', 'grace')
          and (m.customer_id = $1 or m.customer_id in (select d.id from customers d
                                           where d.merged_into = $1))
        order by m.grace_ends_at desc, m.id limit 1) as membership;

-- name: set_tier_floor
-- Sets (or, $9 null, clears) the manual tier of customer $7 with the answer ($1-$6) and the
-- tier change it makes ($10 its event type, $11 its payload; $10 null for none) in one
-- statement, only if the account is still at row version $8 (locked, then rechecked): the
-- answer and the event show the standing the change was decided on.
with unchanged as (
    select id, program_id from accounts where id = $7 and xmin::text::bigint = $8 for update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from unchanged
    on conflict do nothing
    returning key_id
), floor as (
    update customers set tier_floor = $9
    from answer
    where customers.id = $7
), told as (
    insert into outbox (program_id, operation_id, type, payload)
    select unchanged.program_id, null, $10, $11::jsonb
    from unchanged, answer
    where $10::text is not null
)
select count(*) from answer;
