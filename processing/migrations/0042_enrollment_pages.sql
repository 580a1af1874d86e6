-- Self-enrollment (decision 0031): a program that opts in has a public page at /join/{slug}
-- with its display name, its terms and the exact consent wording per channel, and its own API
-- key (no secret anyone holds) that acts for the page: what the page writes is journalled as
-- the page's, not as the operator's who switched it on.
create table enrollment_pages (
    program_id uuid primary key references programs (id),
    slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$'),
    enabled boolean not null,
    display_name text not null check (length(display_name) between 1 and 200),
    terms text not null check (length(terms) between 1 and 4000),
    sms_wording text not null check (length(sms_wording) between 1 and 200),
    email_wording text not null check (length(email_wording) between 1 and 200),
    key_id uuid not null references api_keys (id),
    updated_at timestamptz not null
);

-- A code sent to a phone that may not be a customer yet (sms_checks needs one): only an HMAC
-- of the id and the code under a key derived from the secrets key, named by its id (decision
-- 0004). The per-phone send limits count these rows across programs, so one phone cannot be
-- flooded through several programs' pages.
create table enrollment_codes (
    id uuid primary key,
    program_id uuid not null references programs (id),
    phone text not null check (phone ~ '^\+[1-9][0-9]{6,14}$'),
    code_hmac bytea not null check (length(code_hmac) = 32),
    code_key_id text not null check (length(code_key_id) <= 64),
    attempts integer not null default 0 check (attempts >= 0),
    verified_at timestamptz,
    -- The gateway did not take the SMS: nobody can confirm it and it does not count.
    abandoned_at timestamptz,
    created_at timestamptz not null,
    expires_at timestamptz not null check (expires_at > created_at)
);
create index enrollment_codes_phone_recent on enrollment_codes (phone, created_at);
