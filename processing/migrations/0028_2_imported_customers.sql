-- A customer made by bonus import is marked, so that what greets a new customer (the welcome
-- trigger's scan) leaves the imported ones alone: a base of a million customers carried over
-- is not a million enrolments, and must not send a million welcome messages.
alter table customers add column imported boolean not null default false;
