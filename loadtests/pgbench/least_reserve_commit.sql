-- The least-SQL reserve → commit pair: one call of least_sql.reserve, then one of
-- least_sql.commit (least_sql.sql), each its own transaction as the API's two requests are.
-- Variables as in reserve_commit.sql; the hot-account baseline replaces the first line with
-- customer 1. A random 63-bit number names the pair's keys and receipt, so no statement is
-- spent making them.
\set n random_zipfian(1, :customers, 1.1)
\set points random(1, 20)
\set pair random(1, 9223372036854775806)
select id as hold_id
from least_sql.reserve(:key_id, 'reserve-' || :pair, :program, 'store-1',
                       md5('customer' || :n)::uuid, :points, 'receipt-' || :pair) \gset
select status_code
from least_sql.commit(:key_id, 'commit-' || :pair, :program, 'store-1', :hold_id);
