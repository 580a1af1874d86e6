-- A store's till confirms only the SMS checks its own store sent (like its holds and
-- operations); checks sent before this migration belong to no store, so only keys that span
-- stores can confirm them.
alter table sms_checks add column store_id text;
