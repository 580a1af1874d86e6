-- Promo campaigns can be ended early (decision 0032): a leaked code, a budget spent. When it
-- was ended; its codes work until the earlier of this and ends_at.
alter table promo_campaigns add column ended_at timestamptz;
