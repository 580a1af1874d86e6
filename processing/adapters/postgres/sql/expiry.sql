-- name: accounts_with_expired_lots
-- Accounts holding free points past their expiry by the database clock; $2 narrows to a program.
select distinct account_id from lots
where open and expires_at <= clock_timestamp() and remaining > held
  and ($2::uuid is null or program_id = $2)
limit $1;

-- name: expiry_backlog
-- What a sweep left for the next one: holds past their TTL and accounts with overdue free points.
select
    (select count(*) from holds
     where status = 'active' and expires_at <= clock_timestamp()) as holds,
    (select count(distinct account_id) from lots
     where open and expires_at <= clock_timestamp() and remaining > held) as accounts;
