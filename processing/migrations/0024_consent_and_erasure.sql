-- Marketing consent per channel, as Russian personal-data law (152-FZ) asks a business to be
-- able to show it: who agreed or withdrew, on which channel, when, through what (a till, a web
-- form, the CRM, an import) and to which wording. Append-only: the log is the proof; the
-- consent in force on a channel is its newest entry.
create table customer_consents (
    id uuid primary key,
    program_id uuid not null references programs (id),
    customer_id uuid not null references customers (id),
    channel text not null check (channel in ('sms', 'email', 'push', 'phone')),
    granted boolean not null,
    source text not null check (length(source) between 1 and 64),
    wording text check (length(wording) between 1 and 200),
    key_id uuid references api_keys (id),
    recorded_at timestamptz not null
);
create index customer_consents_customer
    on customer_consents (customer_id, recorded_at desc, id desc);
create trigger customer_consents_append_only before update or delete on customer_consents
    for each row execute function refuse_row_change();

-- An erased customer keeps their id, account and ledger (the books still reconcile) but none of
-- their personal data: the phone becomes a marker no number can equal, unique as the id is.
alter table customers add column erased_at timestamptz;
alter table customers drop constraint customers_phone_check;
alter table customers add constraint customers_phone_check check (
    phone ~ '^\+[1-9][0-9]{6,14}$' or (erased_at is not null and phone = 'erased:' || id::text)
);
