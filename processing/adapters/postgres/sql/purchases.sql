-- name: insert_purchase
-- The receipt behind a purchase operation, written in the operation's transaction; $9 the
-- till's fiscal data, when it sent any.
insert into purchases (operation_id, program_id, account_id, amount_minor, money_minor, tier,
                       lines, created_at, fiscal)
values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::jsonb);

-- name: tier_inputs
-- What a tier is computed from: money the customer paid on purchases since $2, less what
-- returns gave back, and the manually set tier that acts as a floor. The sum stays numeric: a
-- bigint overflowed once and broke every priced call for the customer.
select coalesce((
           select sum(p.money_minor - coalesce(
               (select sum(r.money_minor) from purchase_returns r
                where r.purchase_id = p.operation_id), 0))
           from purchases p where p.account_id = $1 and p.created_at > $2
       ), 0)::numeric as spend,
       (select tier_floor from customers where id = $1) as tier_floor;

-- name: set_tier_floor
-- Sets or clears the manual tier; $3 scopes a program key to its own program.
update customers set tier_floor = $2
where id = $1 and ($3::uuid is null or program_id = $3)
returning id;

-- name: purchase_lines
-- A purchase's receipt as it was priced, and the rule version it was priced with.
select p.lines::text as lines, o.rules_version
from purchases p join operations o on o.id = p.operation_id
where p.operation_id = $1;

-- name: returned_quantities
-- How much of each line earlier returns took back.
select line_id, sum(quantity)::integer as quantity from purchase_returns
where purchase_id = $1 group by line_id;

-- name: insert_returns
-- The lines one return took back.
insert into purchase_returns (operation_id, purchase_id, line_id, quantity, earned_points,
                              redeemed_points, money_minor, created_at)
select $1, $2, line.line_id, line.quantity, line.earned_points, line.redeemed_points,
       line.money_minor, $8
from unnest($3::text[], $4::integer[], $5::bigint[], $6::bigint[], $7::bigint[])
    as line (line_id, quantity, earned_points, redeemed_points, money_minor);
