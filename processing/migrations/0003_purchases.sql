-- Purchases: a receipt that earns points under the program's rules. The operation records the
-- rule version it was computed with; the purchase keeps the money paid (for tiers) and the
-- receipt as calculated, line by line (for returns by line).
alter table operations drop constraint operations_type_check;
alter table operations add constraint operations_type_check check (
    type in ('accrual', 'purchase', 'reserve', 'commit', 'cancel', 'refund', 'expire', 'adjustment')
);
alter table operations add column rules_version integer check (rules_version >= 0);

drop index operations_document;
create unique index operations_document on operations
    (program_id, coalesce(store_id, ''), type, document_id)
    where document_id is not null and type in ('accrual', 'purchase', 'adjustment', 'refund');

create table purchases (
    operation_id uuid primary key references operations (id),
    program_id uuid not null references programs (id),
    account_id uuid not null references accounts (id),
    amount_minor bigint not null check (amount_minor >= 0),
    money_minor bigint not null check (money_minor between 0 and amount_minor),
    tier text,
    lines jsonb not null,
    created_at timestamptz not null
);
-- The money a customer spent over the tier window.
create index purchases_spend on purchases (account_id, created_at);

create or replace view operation_statement as
select o.id, o.program_id, o.account_id as customer_id, o.type, o.points, o.refunded_points,
       o.hold_id, o.refund_of, o.document_id, o.document_name, o.document_comment, o.reason,
       o.channel, o.key_id, o.store_id, o.available_after, o.created_at, o.seq,
       case
           when o.type = 'reserve' then
               case when h.status = 'active' and h.expires_at <= clock_timestamp()
                    then 'expired' else h.status end
           when o.type not in ('accrual', 'purchase', 'commit') or o.refunded_points = 0
               then 'completed'
           when o.refunded_points < abs(o.points) then 'partially_refunded'
           else 'refunded'
       end as status,
       o.rules_version
from operations o left join holds h on h.id = o.hold_id and o.type = 'reserve';
