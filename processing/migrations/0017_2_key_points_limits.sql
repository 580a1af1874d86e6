-- Points a till's or a web shop's key may create (manual accruals, refunds that give points
-- back): per call and per key per UTC day, set per program. The day's count lives in its own
-- row per key, raised in the same transaction as the ledger write with a guarded upsert, so
-- concurrent requests of one key serialize on that row and cannot both slip under the limit.
alter table programs
    add column key_points_per_call_max bigint not null default 100000
        check (key_points_per_call_max between 1 and 1000000000),
    add column key_points_per_day_max bigint not null default 1000000
        check (key_points_per_day_max between 1 and 1000000000000),
    add constraint programs_key_points_call_within_day
        check (key_points_per_call_max <= key_points_per_day_max);

create table key_points_daily (
    key_id uuid not null references api_keys (id),
    day date not null,
    points bigint not null check (points >= 0),
    primary key (key_id, day)
);
