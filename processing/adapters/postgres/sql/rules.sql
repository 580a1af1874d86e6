-- name: rules_facts
-- What a replacement of program $1's rules decides on ($2 scopes a program key to its own
-- program, null: the operator): its newest version (0: never given any), the time, and the new
-- rules $3 as Postgres stores them (jsonb orders an object's keys its own way), so that the
-- answer shows them as a later read does. No row: no such program.
select coalesce((select max(version) from program_rules where program_id = p.id), 0) as version,
       $3::jsonb::text as rules, clock_timestamp() as now
from programs p
where p.id = $1 and ($2::uuid is null or p.id = $2);

-- name: insert_rules
-- Version $8 of program $7's rules ($9, set by key $10 at $11), with the answer ($1-$6) stored
-- under its key in the same statement; nothing is written when the key already has an answer.
-- Two replacements decided on the same newest version race for the primary key (program_id,
-- version): the loser writes nothing and is decided again on the winner's version.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
)
insert into program_rules (program_id, version, rules, key_id, created_at)
select $7, $8, $9::jsonb, $10, $11
from answer
returning program_id;

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

-- name: rules_versions
-- A page of program $1's stored rules versions, newest first, below version $2, at most $3.
select program_id, version, rules::text as rules, created_at
from program_rules
where program_id = $1 and version < $2
order by version desc
limit $3;
