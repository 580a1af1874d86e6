-- A manually set tier: the customer never ranks below it, whatever the spend says.
alter table customers add column tier_floor text
    check (tier_floor is null or length(tier_floor) between 1 and 200);
