-- name: insert_customer
-- Enrollment; a phone already enrolled in the program inserts nothing and returns no row.
insert into customers (id, program_id, phone, name, birthday, attributes)
values ($1, $2, $3, $4, $5, $6)
on conflict (program_id, phone) do nothing
returning id;

-- name: insert_customer_account
-- The customer's points account shares the customer's id.
insert into accounts (id, program_id, kind, customer_id) values ($1, $2, 'customer', $1);

-- name: find_customer_by_phone
-- Lookup at the till and the answer to a second enrollment of the same phone.
select id from customers where program_id = $1 and phone = $2;

-- name: get_customer
-- The customer card as the API shows it, with the account's block and every card.
select c.id, c.program_id, c.phone, c.name, c.birthday, c.attributes::text as attributes,
       c.created_at, a.blocked_reason,
       coalesce(
           (select json_agg(json_build_object('number', k.number, 'status', k.status,
                                              'reason', k.reason) order by k.created_at)
            from cards k where k.customer_id = c.id), '[]')::text as cards
from customers c join accounts a on a.id = c.id
where c.id = $1 and ($2::uuid is null or c.program_id = $2);

-- name: customer_exists
-- Card and block calls check the customer belongs to the caller's program first.
select program_id from customers where id = $1 and ($2::uuid is null or program_id = $2);

-- name: insert_card
-- A number already used in the program inserts nothing and returns no row.
insert into cards (program_id, number, customer_id, status)
values ($1, $2, $3, 'active')
on conflict (program_id, number) do nothing
returning number;

-- name: lock_card
-- Block and unblock serialize on the card row.
select program_id, number, customer_id, status, reason from cards
where number = $1 and program_id = $2
for update;

-- name: find_card
-- Lookup by card number at the till.
select customer_id, status from cards where program_id = $1 and number = $2;

-- name: set_card_status
-- The card's current status; the journal below keeps the history.
update cards set status = $3, reason = $4, updated_at = clock_timestamp()
where program_id = $1 and number = $2;

-- name: insert_card_event
-- The card journal: every status change with its reason and key.
insert into card_events (program_id, number, status, reason, key_id) values ($1, $2, $3, $4, $5);

-- name: card_journal
-- The history of one card, oldest first.
select status, reason, key_id, created_at from card_events
where program_id = $1 and number = $2 order by id;

-- name: set_account_block
-- A blocked account neither earns nor spends; null unblocks it.
update accounts set blocked_reason = $2 where id = $1;
