-- name: insert_purchase
-- The receipt behind a purchase operation, written in the operation's transaction.
insert into purchases (operation_id, program_id, account_id, amount_minor, money_minor,
                       earned_points, tier, lines, created_at)
values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9);

-- name: spend_since
-- Money the customer paid on purchases since $2: what tiers are reached with.
select coalesce(sum(money_minor), 0)::bigint as spend from purchases
where account_id = $1 and created_at > $2;
