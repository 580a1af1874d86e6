-- name: import_program
-- What an import reads first: the program's country (local phones are read as dialled there)
-- and the database clock, which decides what is pending and what available.
select country, clock_timestamp() as now from programs where id = $1;

-- name: import_run
-- Import $2 into program $1, with the numbers of the batches already applied.
select r.import_id, r.file_sha256, r.batch_customers, r.started_at, r.finished_at,
       array(select b.batch_no from import_batches b
             where b.program_id = r.program_id and b.import_id = r.import_id) as applied
from import_runs r
where r.program_id = $1 and r.import_id = $2;

-- name: start_import_run
-- Import $2 of the file with SHA-256 $3 into program $1, in batches of $4 customers, unless it
-- was started before (a resumed run keeps the first run's batches and start time); and the
-- program's opening account, the other side of every opening balance.
with opening as (
    insert into accounts (id, program_id, kind)
    values (gen_random_uuid(), $1, 'opening')
    on conflict (program_id, kind) where kind not in ('customer', 'charity') do nothing
)
insert into import_runs (program_id, import_id, file_sha256, batch_customers, started_at)
values ($1, $2, $3, $4, clock_timestamp())
on conflict (program_id, import_id) do nothing;

-- name: finish_import_run
-- Import $2 into program $1 is complete: its totals are the sums of its batches.
update import_runs r
set finished_at = coalesce(r.finished_at, clock_timestamp()),
    customers = b.customers, lots = b.lots, points = b.points
from (select coalesce(sum(customers), 0) as customers, coalesce(sum(lots), 0) as lots,
             coalesce(sum(points), 0) as points
      from import_batches where program_id = $1 and import_id = $2) b
where r.program_id = $1 and r.import_id = $2;

-- name: taken_phones
-- Which of phones $2 are already customers' of program $1: an import refuses those rows.
select phone from customers where program_id = $1 and phone = any ($2::text[]);

-- name: taken_cards
-- Which of card numbers $2 program $1 already has (in any status, deleted included).
select number from cards where program_id = $1 and number = any ($2::text[]);

-- name: create_import_stage
-- The staging tables a batch is copied into (COPY), one set per connection, emptied when the
-- batch's transaction ends. Their columns are ImportBatch's rows, in order.
create temp table if not exists import_stage_customers (
    id uuid, row_no integer, phone text, name text, email text, birthday date,
    tier_floor text, blocked_reason text, created_at timestamptz, operation_id uuid,
    points bigint, available bigint, document_id text
) on commit delete rows;
create temp table if not exists import_stage_cards (
    customer_id uuid, number text, status text, created_at timestamptz
) on commit delete rows;
create temp table if not exists import_stage_lots (
    id uuid, customer_id uuid, operation_id uuid, points bigint, activates_at timestamptz,
    expires_at timestamptz
) on commit delete rows;

-- name: record_import_batch
-- Batch $3 of import $2 into program $1 ($4 customers, $5 lots, $6 points), recorded in the
-- transaction that applies it; no row returned: it was applied before, so nothing is written.
-- A second run of the same import waits here on the first's uncommitted record.
insert into import_batches (program_id, import_id, batch_no, customers, lots, points)
values ($1, $2, $3, $4, $5, $6)
on conflict do nothing
returning batch_no;

-- name: roll_up_import_batch
-- The batch's opening operations go into the report rollups (decision 0025) in the transaction
-- that writes them: they have no outbox event for the relay to roll them up by.
select report_roll_up(array(
    select operation_id from import_stage_customers where operation_id is not null
));

-- name: apply_import_batch
-- The staged batch in program $1, set-based, in one statement. Each customer with points gets
-- one opening operation ($2 its time) crediting each of their lots against the opening
-- account, so its entries sum to zero (I2), each lot's remaining equals its entry and the
-- account's posted balance the sum of its lots (I1). No outbox event: an opening balance
-- notifies no one, so an import sends no webhooks; the customers are marked imported, so the
-- welcome trigger does not greet them either.
with opening as (
    select id from accounts where program_id = $1 and kind = 'opening'
), customer as (
    insert into customers (id, program_id, phone, name, email, birthday, tier_floor, created_at,
                           imported)
    select s.id, $1, s.phone, s.name, s.email, s.birthday, s.tier_floor, s.created_at, true
    from import_stage_customers s
), account as (
    insert into accounts (id, program_id, kind, customer_id, posted, blocked_reason, created_at)
    select s.id, $1, 'customer', s.id, s.points, s.blocked_reason, s.created_at
    from import_stage_customers s
), card as (
    insert into cards (program_id, number, customer_id, status, reason, created_at, updated_at)
    select $1, k.number, k.customer_id, k.status,
           case k.status when 'active' then 'imported' else 'blocked before import' end,
           k.created_at, k.created_at
    from import_stage_cards k
    returning number, status, reason, created_at
), journal as (
    insert into card_events (program_id, number, status, reason, created_at)
    select $1, number, status, reason, created_at from card
), operation as (
    insert into operations (id, program_id, account_id, type, points, document_id,
                            document_name, channel, available_after, created_at)
    select s.operation_id, $1, s.id, 'opening', s.points, s.document_id, 'import', 'import',
           s.available, $2
    from import_stage_customers s
    where s.operation_id is not null
), lot as (
    insert into lots (id, program_id, account_id, operation_id, points, remaining, held,
                      activates_at, expires_at)
    select l.id, $1, l.customer_id, l.operation_id, l.points, l.points, 0, l.activates_at,
           l.expires_at
    from import_stage_lots l
)
insert into entries (program_id, operation_id, account_id, lot_id, points, created_at)
select $1, l.operation_id, l.customer_id, l.id, l.points, $2
from import_stage_lots l
union all
select $1, s.operation_id, opening.id, null, -s.points, $2
from import_stage_customers s, opening
where s.operation_id is not null;
