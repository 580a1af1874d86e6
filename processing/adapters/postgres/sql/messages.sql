-- name: put_message_template
-- Replaces a program's template of one kind, under the program's row lock taken before it.
insert into message_templates (program_id, kind, locale, text, key_id, updated_at)
values ($1, $2, $3, $4, $5, clock_timestamp())
on conflict (program_id, kind) do update
set locale = excluded.locale, text = excluded.text, key_id = excluded.key_id,
    updated_at = excluded.updated_at
returning updated_at;

-- name: message_template
-- A program's own template of one kind, with the program's name (a template's variable); a
-- program with no template has nulls, meaning the core's default. No row: no such program.
select p.name as program_name, t.locale, t.text, t.updated_at
from programs p
left join message_templates t on t.program_id = p.id and t.kind = $2
where p.id = $1;
