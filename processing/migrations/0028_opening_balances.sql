-- Opening balances: `bonus import` carries a base over from another installation or from 1C
-- (docs/import-export.md). Each imported customer's open lots arrive as one operation of its
-- own type, `opening`, against the program's `opening` system account (created by the first
-- import into the program), so the statement tells carried-over points from earned ones and
-- the ledger's double entry (I2) holds for them as for any operation.
alter table operations drop constraint operations_type_check;
alter table operations add constraint operations_type_check check (
    type in ('accrual', 'purchase', 'reserve', 'commit', 'cancel', 'refund', 'expire',
             'adjustment', 'merge', 'opening')
);
alter table accounts drop constraint accounts_kind_check;
alter table accounts add constraint accounts_kind_check check (
    kind in ('customer', 'issued', 'redeemed', 'expired', 'adjustments', 'opening')
);

-- A source row applies once (I3): an opening operation's document is `<import id>:<row>`,
-- the file's row that opened the customer.
create unique index operations_opening_document on operations (program_id, document_id)
    where type = 'opening';

-- One import of one file into one program: the id is the file's SHA-256 unless the operator
-- names one, and the file's hash is kept so that the same id never applies another file. The
-- customers are applied in batches of `batch_customers`, numbered in file order; each batch is
-- one transaction that records itself in import_batches, so a resumed run (after a kill)
-- skips exactly the batches that committed and a finished one applies nothing.
create table import_runs (
    program_id uuid not null references programs (id),
    import_id text not null check (length(import_id) between 1 and 128),
    file_sha256 bytea not null check (length(file_sha256) = 32),
    batch_customers integer not null check (batch_customers > 0),
    -- Imported customers are enrolled at this instant plus their place in the file in
    -- microseconds, so that they list (and export) in the file's order, on every resume alike.
    started_at timestamptz not null,
    finished_at timestamptz,
    customers integer,
    lots integer,
    points bigint,
    primary key (program_id, import_id)
);

create table import_batches (
    program_id uuid not null,
    import_id text not null,
    batch_no integer not null check (batch_no >= 0),
    customers integer not null,
    lots integer not null,
    points bigint not null,
    applied_at timestamptz not null default clock_timestamp(),
    primary key (program_id, import_id, batch_no),
    foreign key (program_id, import_id) references import_runs (program_id, import_id)
);
