-- The live consistency check (decision 0028): the worker re-verifies what `bonus reconcile`
-- checks in one pass, a slice of customer accounts at a time. Every worker walks the same
-- accounts in id order from this one row: each claims the next slice under the row's lock
-- (held only for the claim), so several workers share the walk and none checks an account
-- another is checking in the same walk.
-- One row per walk: 'accounts' now; a later check walking other slices (the report rollups'
-- program and day, say) adds its own row and the cursor columns it needs.
create table live_check_walk (
    walk text primary key check (walk in ('accounts')),
    -- The last account claimed; null: the next claim starts the walk from the first account.
    account_id uuid,
    walk_started_at timestamptz not null default clock_timestamp(),
    walks_completed bigint not null default 0,
    walk_completed_at timestamptz
);
insert into live_check_walk (walk) values ('accounts');

-- The accounts whose last check found a difference, with its kinds: the gauge of differences
-- currently known is their count, whichever worker found them, and an account leaves the list
-- when a later walk finds it clean again.
create table live_check_differences (
    account_id uuid primary key references accounts (id),
    kinds text not null,
    found_at timestamptz not null default clock_timestamp(),
    checked_at timestamptz not null default clock_timestamp()
);

-- A merged account's debt went to its survivor on the survivor's merge operation; the check
-- finds that operation from the merged account's side through this index (merges are few, so
-- it is small). Built in the migration's transaction: on a large ledger it blocks writes to
-- operations for one pass over the table, so run it in a quiet window.
create index operations_merged_from on operations (merged_from) where merged_from is not null;
