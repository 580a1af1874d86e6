-- 0030_segments covered remaining and held in lots_program_expiring; every reserve and commit
-- changes them, so the lot's update could no longer be HOT (migration 0016 keeps lots updated
-- in place: no index names remaining or held). The index keeps what never changes after a lot
-- is written (the account, its activation); the count reads remaining and held from the heap,
-- a bitmap heap scan of the lots in the window (loadtests/RESULTS.md measures it).
drop index lots_program_expiring;
create index lots_program_expiring on lots (program_id, expires_at)
    include (account_id, activates_at) where open;
