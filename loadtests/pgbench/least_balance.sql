-- The least-SQL balance read: one call of least_sql.balance (least_sql.sql).
\set n random_zipfian(1, :customers, 1.1)
select least_sql.balance(:program, md5('customer' || :n)::uuid);
