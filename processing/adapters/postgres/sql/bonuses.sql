-- name: insert_bonus_grant
-- Claims the bonus for its period; no row back means it was already granted.
insert into bonus_grants (account_id, kind, period, operation_id) values ($1, $2, $3, $4)
on conflict do nothing
returning operation_id;

-- name: bonus_granted
-- Whether the bonus was already granted in this period.
select operation_id from bonus_grants where account_id = $1 and kind = $2 and period = $3;

-- name: referral_due
-- The referrer of a customer whose only purchase so far is the one just written.
select c.referred_by from customers c
where c.id = $1 and c.referred_by is not null
  and (select count(*) from purchases p where p.account_id = c.id) = 1;
