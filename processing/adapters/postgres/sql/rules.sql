-- name: lock_program
-- Serializes rule replacements of one program; $2 scopes a program key to its own program.
select id from programs where id = $1 and ($2::uuid is null or id = $2) for update;

-- name: insert_rules
-- The next version, under the program's row lock taken by the statement before.
insert into program_rules (program_id, version, rules, key_id, created_at)
select $1, coalesce(max(version), 0) + 1, $2::jsonb, $3, clock_timestamp()
from program_rules where program_id = $1
returning program_id, version, rules::text as rules, created_at;

-- name: current_rules
-- The newest version of a program's rules; version 0 with no rules for a program never given
-- any (its defaults expire after the program's expiry_days). No row: no such program.
select p.id as program_id, coalesce(r.version, 0) as version, r.rules::text as rules,
       r.created_at, p.expiry_days
from programs p
left join lateral (
    select version, rules, created_at from program_rules
    where program_id = p.id order by version desc limit 1
) r on true
where p.id = $1;
