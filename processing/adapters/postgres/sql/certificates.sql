-- name: certificate_program
-- The program certificates are issued in, with its currency (the money accounts' unit), when
-- the caller may act on it ($2: the key's program; null for an operator key).
select id, currency from programs where id = $1 and ($2::uuid is null or id = $2);

-- name: ensure_money_accounts
-- The program's three money system accounts, made once on first use: the other side of every
-- certificate's entries.
insert into money_accounts (id, program_id, kind, currency)
select gen_random_uuid(), $1, kind, $2
from unnest(array['certificates_sold', 'certificates_redeemed', 'certificates_breakage']) kind
on conflict (program_id, kind) where kind <> 'certificate' do nothing;

-- name: insert_certificates
-- A batch of certificates, each its own money account; nothing is credited until a sale.
with accounts as (
    insert into money_accounts (id, program_id, kind, currency)
    select id, $1, 'certificate', $2 from unnest($3::uuid[]) id
    returning id
)
insert into certificates (id, program_id, number, pin_hmac, pin_key_id, nominal_minor,
                          status, expires_at, store_id, batch_id, issued_at)
select c.id, $1, c.number, c.pin_hmac, $6, $7, 'issued', $8, $9, $10, $11
from unnest($3::uuid[], $4::text[], $5::bytea[]) as c(id, number, pin_hmac)
join accounts a on a.id = c.id;

-- name: lock_certificate
-- One certificate under its row lock, by id, within the caller's program ($2, null: any).
select c.*, (c.blocked_at is not null) as blocked,
       (select m.currency from money_accounts m where m.id = c.id) as currency from certificates c
where c.id = $1 and ($2::uuid is null or c.program_id = $2)
for update;

-- name: lock_certificates_by_number
-- The certificates a request names, under their row locks taken in id order (so two requests
-- naming the same certificates never wait on each other in a circle).
select c.*, (c.blocked_at is not null) as blocked,
       (select m.currency from money_accounts m where m.id = c.id) as currency from certificates c
where c.number = any($1::text[]) and c.program_id = $2
order by c.id
for update;

-- name: get_certificate
select c.*, (c.blocked_at is not null) as blocked,
       (select m.currency from money_accounts m where m.id = c.id) as currency from certificates c
where c.id = $1 and ($2::uuid is null or c.program_id = $2);

-- name: list_certificates
-- A page of the program's certificates, newest first, keyset-paged by (issued_at, id); $2
-- narrows to one state as a reader is told it (decision 0033), at the database's clock.
select c.*, (c.blocked_at is not null) as blocked,
       (select m.currency from money_accounts m where m.id = c.id) as currency from certificates c
where c.program_id = $1
  and (
    $2::text is null
    or ($2 = 'blocked' and c.blocked_at is not null)
    or ($2 = 'expired' and c.blocked_at is null
        and (c.status = 'expired' or c.expires_at <= clock_timestamp()))
    or ($2 = 'issued' and c.blocked_at is null and c.status = 'issued'
        and c.expires_at > clock_timestamp())
    or ($2 = 'active' and c.blocked_at is null and c.status = 'active' and c.balance_minor > 0
        and c.expires_at > clock_timestamp())
    or ($2 = 'spent' and c.blocked_at is null and c.status = 'active' and c.balance_minor = 0
        and c.expires_at > clock_timestamp())
  )
  and ($3::timestamptz is null or (c.issued_at, c.id) < ($3, $4::uuid))
order by c.issued_at desc, c.id desc
limit $5;

-- name: certificate_statement
-- One certificate's operations, newest first, keyset-paged by seq.
select id, seq, type, amount_minor, balance_after, ledger_operation_id, refund_of,
       refunded_minor, document_id, store_id, key_id, channel, created_at
from certificate_operations
where certificate_id = $1 and ($2::bigint is null or seq < $2)
order by seq desc
limit $3;

-- name: set_certificate_wrong_pins
-- The wrong PINs in a row after a try ($2), and the block when they reach the limit ($3).
update certificates
set wrong_pins = $2,
    blocked_at = case when $3 then coalesce(blocked_at, $4) else blocked_at end
where id = $1;

-- name: rekey_certificate_pin
-- Certificate $1's PIN, just confirmed, kept again under the current master key ($3: $2).
update certificates set pin_hmac = $2, pin_key_id = $3 where id = $1;

-- name: certificate_pins_under_older_keys
-- How many certificates that can still be paid with keep their PIN under a master key other
-- than $1: the key must stay in the ring until none does.
select count(*) from certificates
where pin_key_id <> $1 and (status = 'issued' or (status = 'active' and balance_minor > 0));

-- name: unblock_certificate
update certificates set wrong_pins = 0, blocked_at = null where id = $1;

-- name: close_certificate
-- A sold certificate past its expiry with nothing left: closed with no money operation.
update certificates set status = 'expired' where id = $1 and balance_minor = 0;

-- name: write_certificate_operation
-- One money operation with its entries (kinds: 'certificate', the certificate's own account,
-- or a system account's kind), the certificate's new balance and status, what a refund gave
-- back to its redemption, and its outbox event, in one statement. The deferred zero-sum trigger
-- checks the entries at commit.
with operation as (
    insert into certificate_operations (id, program_id, certificate_id, type, amount_minor,
                                        balance_after, ledger_operation_id, refund_of,
                                        document_id, store_id, key_id, channel, created_at)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    returning id
), written as (
    insert into money_entries (program_id, operation_id, account_id, amount_minor, created_at)
    select $2, o.id,
           case when e.kind = 'certificate' then $3
                else (select m.id from money_accounts m
                      where m.program_id = $2 and m.kind = e.kind) end,
           e.amount, $13
    from operation o, unnest($14::text[], $15::bigint[]) as e(kind, amount)
), certificate as (
    update certificates
    set balance_minor = $6, status = $16,
        activated_at = case when $16 = 'active' then coalesce(activated_at, $13)
                            else activated_at end
    where id = $3
), refunded as (
    update certificate_operations set refunded_minor = refunded_minor + $5
    where id = $8
), told as (
    insert into outbox (program_id, operation_id, type, payload)
    select $2, null, $17, $18::jsonb from operation
)
select count(*) from operation;

-- name: certificate_redemptions
-- What certificates paid for a purchase of the points ledger, in the order they paid, with
-- what earlier returns gave back to each: a return gives back from these.
select o.id as operation_id, o.certificate_id, o.amount_minor, o.refunded_minor
from certificate_operations o
where o.ledger_operation_id = $1 and o.type = 'redemption'
order by o.seq;

-- name: lock_certificates
-- Certificates by id under their row locks, in id order.
select c.*, (c.blocked_at is not null) as blocked,
       (select m.currency from money_accounts m where m.id = c.id) as currency from certificates c
where c.id = any($1::uuid[])
order by c.id
for update;

-- name: due_certificates
-- Sold certificates past their expiry, oldest first: the sweep burns their balance.
select id from certificates
where status = 'active' and expires_at <= clock_timestamp()
  and ($2::uuid is null or program_id = $2)
order by expires_at
limit $1;

-- name: certificates_liability
-- The program's certificates as money: what sold certificates still hold (the liability),
-- what was sold, paid out and burned, all from the entries of its system accounts.
select m.kind, coalesce(-sum(e.amount_minor), 0)::bigint as total
from money_accounts m left join money_entries e on e.account_id = m.id
where m.program_id = $1 and m.kind <> 'certificate'
group by m.kind;

-- name: reconcile_certificate_balances
-- Each certificate's cached balance against the sum of its entries.
select c.id, c.balance_minor, coalesce(sum(e.amount_minor), 0)::bigint as entries
from certificates c left join money_entries e on e.account_id = c.id
group by c.id, c.balance_minor
having c.balance_minor <> coalesce(sum(e.amount_minor), 0);

-- name: reconcile_money_operations
-- Every money operation's entries sum to zero, and none lacks entries.
select o.id, coalesce(sum(e.amount_minor), 0)::bigint as total, count(e.id) as entries
from certificate_operations o left join money_entries e on e.operation_id = o.id
group by o.id
having coalesce(sum(e.amount_minor), 0) <> 0 or count(e.id) = 0;

-- name: reconcile_certificate_refunds
-- Each redemption's refunded_minor equals the refunds written against it.
select o.id, o.refunded_minor, coalesce(sum(r.amount_minor), 0)::bigint as refunds
from certificate_operations o left join certificate_operations r on r.refund_of = o.id
where o.type = 'redemption'
group by o.id, o.refunded_minor
having o.refunded_minor <> coalesce(sum(r.amount_minor), 0);

-- name: reconcile_certificate_history
-- A certificate's last operation left the balance it has; the program's money accounts sum
-- to zero with its certificates' (nothing credited out of thin air).
select c.id, c.balance_minor, last.balance_after
from certificates c
join lateral (
    select balance_after from certificate_operations o
    where o.certificate_id = c.id order by seq desc limit 1
) last on true
where last.balance_after <> c.balance_minor;
