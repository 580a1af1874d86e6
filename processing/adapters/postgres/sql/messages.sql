-- name: template_program
-- What a template's replacement decides on: the program's name (a variable the template is
-- checked with), if the caller may see the program ($2 scopes a program key to its own), and the
-- database clock that stamps the replacement.
select name as program_name, clock_timestamp() as now
from programs
where id = $1 and ($2::uuid is null or id = $2);

-- name: put_message_template
-- Replaces program $7's template of one kind ($8 kind, $9 locale, $10 text, $11 the key that
-- set it, $12 when), with the answer ($1-$6) stored under its key in the same statement:
-- nothing is written when the key already has an answer. The last replacement wins.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
)
insert into message_templates (program_id, kind, locale, text, key_id, updated_at)
select $7, $8, $9, $10, $11, $12 from answer
on conflict (program_id, kind) do update
set locale = excluded.locale, text = excluded.text, key_id = excluded.key_id,
    updated_at = excluded.updated_at
returning program_id;

-- name: message_template
-- A program's own template of one kind, with the program's name (a template's variable); a
-- program with no template has nulls, meaning the core's default. No row: no such program.
select p.name as program_name, t.locale, t.text, t.updated_at
from programs p
left join message_templates t on t.program_id = p.id and t.kind = $2
where p.id = $1;
