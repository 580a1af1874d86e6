-- The live check walks the report rollups too (decision 0028, the rollups of decision 0025):
-- one program and day at a time, in program id and day order, its own row of the walk with
-- its own cursor.
alter table live_check_walk drop constraint live_check_walk_walk_check;
alter table live_check_walk add constraint live_check_walk_walk_check
    check (walk in ('accounts', 'report_points'));
alter table live_check_walk add column program_id uuid, add column day date;
insert into live_check_walk (walk) values ('report_points');

-- The program days whose last check found the rollups apart from the ledger.
create table live_check_report_differences (
    program_id uuid not null references programs (id),
    day date not null,
    kinds text not null,
    found_at timestamptz not null default clock_timestamp(),
    checked_at timestamptz not null default clock_timestamp(),
    primary key (program_id, day)
);

-- One program's operations of one day, for the check of that day's rollups (and the next day
-- that has any). It is one more entry for every operation written: a btree on 16 + 8 bytes,
-- measured in loadtests/RESULTS.md "Live consistency check". Built in the migration's
-- transaction: on a large ledger it blocks writes to operations while it is built.
create index operations_program_time on operations (program_id, created_at);
