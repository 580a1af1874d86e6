-- The Bitrix24 application path (docs/decisions/0021). An operator asks for an install link of a
-- program: a one-time grant, kept as its token's SHA-256, that the portal's install call spends.
-- The portal installed through it is one row of bitrix24_portals beside its channel connection:
-- the connection's sealed secrets hold the OAuth pair and the application token, this row says
-- which generation of the pair is current and who is refreshing it, so two workers never both
-- spend one refresh token.
create table bitrix24_install_grants (
    token_sha256 bytea primary key check (length(token_sha256) = 32),
    program_id uuid not null references programs (id),
    created_by uuid not null references api_keys (id),
    created_at timestamptz not null default clock_timestamp(),
    expires_at timestamptz not null,
    -- Spent by the install that used it, in the transaction that made its connection.
    used_at timestamptz,
    connection_id uuid references channel_connections (id),
    check ((used_at is null) = (connection_id is null))
);
create index bitrix24_install_grants_program on bitrix24_install_grants (program_id);

create table bitrix24_portals (
    -- The portal's own id (member_id in every install, event and placement request).
    member_id text primary key check (length(member_id) between 1 and 64),
    connection_id uuid not null unique references channel_connections (id),
    -- When the current access token expires (the portal's expires_in from when it was issued).
    access_expires_at timestamptz not null,
    -- Moves by one with every refresh; a refresh stores its pair only over the generation it
    -- started from, so a second refresh of the same pair writes nothing.
    token_generation bigint not null default 0 check (token_generation >= 0),
    -- A refresh in flight until then: others wait for its pair rather than spend the same
    -- refresh token (a worker that died releases it when the time passes).
    refreshing_until timestamptz,
    installed_at timestamptz not null default clock_timestamp()
);
