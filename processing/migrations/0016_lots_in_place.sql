-- Every reserve, commit, cancel and refund changes a lot's remaining or held points. While an
-- index named either column (lots_open in its WHERE, lots_expiring in its WHERE), Postgres could
-- not update a lot in place (a HOT update): each change wrote a new version of the row and a
-- new entry in each of the table's three indexes, so the one lot of a busy customer left a
-- trail of dead versions that every later read of that customer walked until a vacuum came.
-- Now the indexes name only `open`, a stored flag that changes once, when the lot is used up,
-- and pages keep room for the new versions (fillfactor). Adding the column rewrites the table
-- under an exclusive lock: on a large ledger, run this migration in a quiet window.
alter table lots set (fillfactor = 85);
alter table lots add column open boolean generated always as (remaining > 0) stored;

drop index lots_open;
create index lots_open on lots (account_id) where open;
drop index lots_expiring;
create index lots_expiring on lots (expires_at) where open;
