-- The text a program sends its customers, one template per kind of message (sms_code: the
-- till's confirmation code). No row, or a row with no text, means the core's built-in default
-- in the row's locale (Russian without a row). Replaced in place: a sent message keeps no
-- reference to the template it was rendered from.
create table message_templates (
    program_id uuid not null references programs (id),
    kind text not null check (kind in ('sms_code')),
    locale text not null check (locale in ('ru', 'en')),
    text text check (length(text) between 1 and 1000),
    key_id uuid references api_keys (id),
    updated_at timestamptz not null default clock_timestamp(),
    primary key (program_id, kind)
);
