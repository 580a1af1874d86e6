-- The operator's customer list pages a program's customers newest first by (created_at, id);
-- without this index every page would sort the whole program.
create index customers_program_created on customers (program_id, created_at desc, id desc);
