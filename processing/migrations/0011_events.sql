-- Events named by what happened: an operation writes several (points.redeemed, then
-- balance.changed, ...), each type once; a manual tier change writes tier.changed with no
-- operation behind it. Events written before this keep their operation.<type> names.
alter table outbox drop constraint outbox_operation_id_key;
alter table outbox alter column operation_id drop not null;
create unique index outbox_operation_type on outbox (operation_id, type)
    where operation_id is not null;
