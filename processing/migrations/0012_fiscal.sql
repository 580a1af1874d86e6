-- The fiscal data a till sends with a cheque (receipt number, fiscal drive, document and sign,
-- time), kept with the purchase it produced so a return or an audit can name the fiscal receipt.
alter table purchases add column fiscal jsonb check (fiscal is null or jsonb_typeof(fiscal) = 'object');
