-- A customer's e-mail, and the history of every change to their personal data: which fields
-- moved from what to what, when, by which key and why. The history is personal data too:
-- an erasure pseudonymizes it with the customer, so it is not append-only by trigger.
alter table customers add column email text
    check (email is null or (length(email) between 3 and 254 and email like '%_@_%'));

create table customer_changes (
    id uuid primary key,
    program_id uuid not null references programs (id),
    customer_id uuid not null references customers (id),
    key_id uuid references api_keys (id),
    reason text check (length(reason) <= 500),
    changes jsonb not null check (jsonb_typeof(changes) = 'object'),
    created_at timestamptz not null
);
create index customer_changes_customer on customer_changes (customer_id, created_at desc, id desc);
