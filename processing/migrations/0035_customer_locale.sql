-- A customer's locale (decision 0023): the language their trigger messages are written in, two
-- lowercase letters as a template's locale is. Null: the program's default, Russian. The
-- message relay picks each channel's template in it, else the channel's ru one, else its first.
-- The check is added NOT VALID: every existing row holds null, so there is nothing to prove,
-- and customers is not scanned under the migration's lock; new and changed rows are checked.
alter table customers add column locale text;
alter table customers add constraint customers_locale check (locale ~ '^[a-z]{2}$') not valid;
