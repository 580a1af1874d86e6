-- A program's loyalty rules, versioned. Each replacement adds a version; versions are never
-- changed or removed, so the version an operation records always explains how it was computed.
create table program_rules (
    program_id uuid not null references programs (id),
    version integer not null check (version >= 1),
    rules jsonb not null,
    key_id uuid references api_keys (id),
    created_at timestamptz not null,
    primary key (program_id, version)
);

-- One refusal for every table whose rows are written once (0001 has its own for entries).
create function refuse_row_change() returns trigger language plpgsql as $$
begin
    raise exception '% rows are immutable: % refused', tg_table_name, tg_op
        using errcode = 'insufficient_privilege';
end;
$$;
create trigger program_rules_immutable before update or delete on program_rules
    for each row execute function refuse_row_change();
