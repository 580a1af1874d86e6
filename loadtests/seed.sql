-- Seeds $2 customers of program $1, each with one accrual of $3 points, straight in SQL so that
-- 100,000 customers take seconds. The rows are what the API would write for an enrollment and
-- an accrual (account, operation, lot, both entries, outbox event), so `bonus reconcile` stays
-- clean. Ids are derived from the customer's number, so pgbench scripts can name customer n as
-- md5('customer' || n)::uuid.
insert into customers (id, program_id, phone)
select md5('customer' || n)::uuid, $1::uuid, '+7900' || lpad(n::text, 7, '0')
from generate_series(1, $2::int) as n;

insert into accounts (id, program_id, kind, customer_id, posted)
select md5('customer' || n)::uuid, $1::uuid, 'customer', md5('customer' || n)::uuid, $3::bigint
from generate_series(1, $2::int) as n;

insert into operations (id, program_id, account_id, type, points, document_id, channel,
                        available_after, created_at)
select md5('accrual' || n)::uuid, $1::uuid, md5('customer' || n)::uuid, 'accrual', $3::bigint,
       'seed-' || n, 'bench', $3::bigint, clock_timestamp()
from generate_series(1, $2::int) as n;

insert into lots (id, program_id, account_id, operation_id, points, remaining, activates_at)
select md5('lot' || n)::uuid, $1::uuid, md5('customer' || n)::uuid, md5('accrual' || n)::uuid, $3::bigint, $3::bigint,
       clock_timestamp() - interval '1 day'
from generate_series(1, $2::int) as n;

insert into entries (program_id, operation_id, account_id, lot_id, points)
select $1::uuid, md5('accrual' || n)::uuid, md5('customer' || n)::uuid, md5('lot' || n)::uuid, $3::bigint
from generate_series(1, $2::int) as n
union all
select $1::uuid, md5('accrual' || n)::uuid,
       (select id from accounts where program_id = $1::uuid and kind = 'issued'), null, -$3::bigint
from generate_series(1, $2::int) as n;

insert into outbox (program_id, operation_id, type, payload)
select $1::uuid, md5('accrual' || n)::uuid, 'operation.accrual', '{"seeded": true}'
from generate_series(1, $2::int) as n;
