-- Apple Wallet store cards (decision 0029): a program's pass settings, one pass per card with
-- the token its devices authenticate with, and the devices registered for a pass's updates.
--
-- A program's Apple Wallet settings. The pass type certificate, its private key and Apple's
-- WWDR intermediate are kept sealed together (decision 0004), bound to the program; what the
-- certificate says (subject, expiry) is kept beside them in clear for operators to see.
create table apple_wallet_settings (
    program_id uuid primary key references programs (id),
    pass_type_identifier text not null
        check (pass_type_identifier ~ '^pass(\.[A-Za-z0-9][A-Za-z0-9-]*){2,}$'
            and length(pass_type_identifier) <= 128),
    team_identifier text not null check (team_identifier ~ '^[A-Z0-9]{10}$'),
    organization_name text not null check (length(organization_name) between 1 and 200),
    description text not null check (length(description) between 1 and 200),
    background_color text not null check (background_color ~ '^rgb\('),
    foreground_color text not null check (foreground_color ~ '^rgb\('),
    label_color text not null check (label_color ~ '^rgb\('),
    terms text not null check (length(terms) <= 4000),
    credentials_sealed text not null check (credentials_sealed like 'sealed:v1:%'),
    certificate_subject text not null,
    certificate_not_after timestamptz not null,
    logo_png bytea check (length(logo_png) <= 40960),
    icon_png bytea check (length(icon_png) <= 40960),
    key_id uuid references api_keys (id),
    updated_at timestamptz not null
);

-- A card's pass, made the first time it is asked for. Its serial number and authentication
-- token never change (Apple refuses a changed token); the token is sealed, bound to the serial.
-- content_sha256 is the digest of what the pass showed when its tag last moved: the tag (from
-- wallet_pass_tags) moves exactly when that digest changes, so a device is never told of a pass
-- that shows nothing new.
create sequence wallet_pass_tags;
create table wallet_passes (
    serial_number uuid primary key,
    program_id uuid not null,
    card_number text not null,
    authentication_token_sealed text not null
        check (authentication_token_sealed like 'sealed:v1:%'),
    content_sha256 bytea not null check (length(content_sha256) = 32),
    updated_tag bigint not null,
    updated_at timestamptz not null,
    created_at timestamptz not null,
    unique (program_id, card_number),
    foreign key (program_id, card_number) references cards (program_id, number)
);

-- A device registered for a pass's updates (the PassKit web service): its push token, and the
-- pass type it registered under (what the device sends back when it asks what changed).
create table wallet_device_registrations (
    device_library_identifier text not null
        check (length(device_library_identifier) between 1 and 128),
    serial_number uuid not null references wallet_passes (serial_number),
    pass_type_identifier text not null,
    push_token text not null check (length(push_token) between 1 and 256),
    created_at timestamptz not null default clock_timestamp(),
    primary key (device_library_identifier, serial_number)
);
create index wallet_device_registrations_of_pass on wallet_device_registrations (serial_number);
