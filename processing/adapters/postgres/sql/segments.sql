-- name: segment_facts
-- What a new version of a segment is decided on: for a new segment, program $1 (scoped to $3, a
-- program key's own; null: the operator); for a new version, segment $2's program and its
-- newest version with its name. With the database clock. No row: no such program or segment.
select p.id as program_id, coalesce(v.version, 0) as version, v.name, s.created_at,
       clock_timestamp() as now
from programs p
left join segments s on s.id = $2 and s.program_id = p.id
left join lateral (
    select version, name from segment_versions
    where segment_id = s.id order by version desc limit 1
) v on true
where ($3::uuid is null or p.id = $3)
  and (($2::uuid is null and p.id = $1)
       or ($2::uuid is not null and p.id = (select program_id from segments where id = $2)));

-- name: insert_segment_version
-- Version $9 of segment $7 of program $8 (name $10, filter $11, by key $12 at $13), with the
-- segment itself when it is version 1, and the answer ($1-$6), in one statement. Two versions
-- decided on the same newest one race for the primary key (segment_id, version): the loser
-- writes nothing and is decided again on the winner's version.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
), segment as (
    insert into segments (id, program_id, created_at)
    select $7, $8, $13 from answer where $9::integer = 1
    returning id
)
insert into segment_versions (segment_id, version, name, filter, key_id, created_at)
select $7, $9, $10, $11::jsonb, $12, $13
from answer
left join segment on true
where $9::integer > 1 or segment.id is not null
returning segment_id;

-- name: get_segment
-- Segment $1 as its newest version reads, when it is in program $2 (null: any program).
select s.id, s.program_id, v.version, v.name, v.filter::text as filter, s.created_at,
       v.created_at as updated_at
from segments s
join lateral (
    select version, name, filter, created_at from segment_versions
    where segment_id = s.id order by version desc limit 1
) v on true
where s.id = $1 and ($2::uuid is null or s.program_id = $2);

-- name: list_segments
-- A page of program $1's segments, newest first, older than position ($2, $3), at most $4,
-- each as its newest version reads.
select s.id, s.program_id, v.version, v.name, v.filter::text as filter, s.created_at,
       v.created_at as updated_at
from segments s
join lateral (
    select version, name, filter, created_at from segment_versions
    where segment_id = s.id order by version desc limit 1
) v on true
where s.program_id = $1 and (s.created_at, s.id) < ($2::timestamptz, $3::uuid)
order by s.created_at desc, s.id desc
limit $4;

-- name: segment_versions
-- A page of segment $1's versions, newest first, below version $2, at most $3.
select version, name, filter::text as filter, key_id, created_at
from segment_versions
where segment_id = $1 and version < $2
order by version desc
limit $3;

-- name: program_customers
-- How many customers of program $1 a segment can hold (neither erased nor merged into another),
-- counted up to $2 at most (null: all): whether a program is small enough to count exactly at
-- once needs no more than one past the bound.
select count(*) from (
    select from customers
    where program_id = $1 and erased_at is null and merged_into is null
    limit $2
) counted;

-- name: stored_count
-- The newest exact count taken of version $2 of segment $1, when, and whether it is younger
-- than $3 seconds by the database clock.
select exact, counted_at, counted_at > clock_timestamp() - make_interval(secs => $3) as fresh
from segment_counts where segment_id = $1 and version = $2;

-- name: store_count
-- An exact count $3 of version $2 of segment $1, taken now; it replaces an older one.
insert into segment_counts (segment_id, version, exact, counted_at)
values ($1, $2, $3, clock_timestamp())
on conflict (segment_id, version)
do update set exact = excluded.exact, counted_at = excluded.counted_at
returning counted_at;
