-- A purchase paid partly with points: a hold that carried its receipt, committed with the final
-- receipt, spends the held points and earns on the money in ONE purchase operation, so its
-- entries have two legs (the spent lots against the program's redeemed account, the earned lot
-- against its issued account). On every operation `points` stays the net change of the
-- customer's balance; a purchase also records the points that paid for it, and how many of
-- those its returns gave back (I6: never more than it redeemed). A return of such a purchase
-- records the points it gave back beside its net change: what it clawed back is the difference.
alter table operations add column redeemed_points bigint not null default 0
    check (redeemed_points >= 0 and (redeemed_points = 0 or type = 'purchase'));
alter table operations add column returned_points bigint not null default 0
    check (returned_points >= 0 and (returned_points = 0 or type in ('purchase', 'refund')));
alter table operations add constraint operations_purchase_returned
    check (type <> 'purchase' or returned_points <= redeemed_points);
-- What a purchase earned is its net change plus what it redeemed; clawed back never passes it.
alter table operations drop constraint operations_check;
alter table operations add constraint operations_refunded_within check (
    refunded_points >= 0 and refunded_points <= case when type = 'purchase'
                                                     then points + redeemed_points
                                                     else abs(points) end
);

-- The receipt a hold was reserved for: committed as a purchase unless the commit brings another.
alter table holds add column receipt jsonb check (receipt is null or jsonb_typeof(receipt) = 'array');

create or replace view operation_statement as
select o.id, o.program_id, o.account_id as customer_id, o.type, o.points, o.refunded_points,
       o.hold_id, o.refund_of, o.document_id, o.document_name, o.document_comment, o.reason,
       o.channel, o.key_id, o.store_id, o.available_after, o.created_at, o.seq,
       case
           when o.type = 'reserve' then
               case when h.status = 'active' and h.expires_at <= clock_timestamp()
                    then 'expired' else h.status end
           when o.type not in ('accrual', 'purchase', 'commit')
               or o.refunded_points + o.returned_points = 0
               then 'completed'
           when o.type = 'purchase' then
               case when o.refunded_points = o.points + o.redeemed_points
                         and o.returned_points = o.redeemed_points
                    then 'refunded' else 'partially_refunded' end
           when o.refunded_points < abs(o.points) then 'partially_refunded'
           else 'refunded'
       end as status,
       o.rules_version,
       o.redeemed_points,
       o.returned_points
from operations o left join holds h on h.id = o.hold_id and o.type = 'reserve';
