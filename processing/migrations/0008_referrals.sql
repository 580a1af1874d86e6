-- Who referred a customer: both get the referral bonus after the referred customer's first
-- purchase. A referrer is always enrolled before the customer they refer.
alter table customers add column referred_by uuid references customers (id);
