-- SMS confirmation codes for the cash-register protocol: a till asks for a code to be sent to
-- the customer's phone and confirms what the customer reads out. Only a SHA-256 of the check id
-- and the code is kept, never the code; a check lives for its TTL and a few wrong attempts.
create table sms_checks (
    id uuid primary key,
    program_id uuid not null references programs (id),
    customer_id uuid not null references customers (id),
    code_sha256 bytea not null check (length(code_sha256) = 32),
    expires_at timestamptz not null,
    attempts integer not null default 0 check (attempts >= 0),
    verified_at timestamptz,
    -- The provider did not take the message: nobody can confirm it, and it does not count
    -- against the customer's send limit.
    abandoned_at timestamptz,
    created_at timestamptz not null default clock_timestamp()
);
-- The send rate limit counts a customer's recent checks.
create index sms_checks_customer_recent on sms_checks (customer_id, created_at);
