-- A Bitrix24 contact shows the customer's balance, tier and card, so it must be written again
-- whenever the balance moves (a till purchase, an expiry), not only after a deal. A deal links
-- its contact to the customer here; the outbox relay queues a contact write-back for every
-- balance.changed of a linked customer, folded into one still waiting for that contact.
create table channel_contacts (
    connection_id uuid not null references channel_connections (id),
    customer_id uuid not null references accounts (id),
    program_id uuid not null references programs (id),
    contact_id text not null check (length(contact_id) between 1 and 64),
    linked_at timestamptz not null default clock_timestamp(),
    primary key (connection_id, customer_id)
);
create index channel_contacts_customer on channel_contacts (customer_id);

-- The events still waiting to be handed out, where a new "read this again" event looks for one
-- that covers it (only these rows, never a connection's whole history).
create index channel_inbox_waiting on channel_inbox (connection_id)
    where status = 'pending' and attempts = 0;
