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
