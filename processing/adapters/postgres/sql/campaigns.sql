-- name: insert_campaign
-- Campaign $7 of program $8 over segment $9, made by key $10 (name $11, $12 points or none,
-- expiring at $13 or $14 days after each accrual, reason $15, starting at $16, made at $17,
-- message templates $18), scheduled, with the answer ($1-$6) in one statement: nothing when
-- the key already has an answer.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
)
insert into campaigns (id, program_id, segment_id, key_id, name, points, expires_at,
                       expiry_days, reason, starts_at, state, created_at, templates)
select $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'scheduled', $17, $18::jsonb
from answer
returning id;

-- name: get_campaign
-- Campaign $1 when it is in program $2 (null: any program), with its members counted by state
-- and reason (one index range of campaign_members) and its messages by state and reason (one
-- range of messages_of_campaign).
select c.id, c.program_id, c.segment_id, c.key_id, c.name, c.points, c.expires_at,
       c.expiry_days, c.reason, c.starts_at, c.state, c.members, c.created_at, c.started_at,
       c.finished_at, c.templates::text as templates,
       (select coalesce(jsonb_object_agg(m.state || ':' || coalesce(m.why, ''), m.n), '{}')
        from (select state, why, count(*) as n from campaign_members
              where campaign_id = c.id group by state, why) m)::text as progress,
       (select coalesce(jsonb_object_agg(m.state || ':' || coalesce(m.reason, ''), m.n), '{}')
        from (select state, reason, count(*) as n from messages
              where campaign_id = c.id group by state, reason) m)::text as message_progress
from campaigns c
where c.id = $1 and ($2::uuid is null or c.program_id = $2);

-- name: list_campaigns
-- Program $1's campaigns older than ($2, $3), newest first, at most $4, with their progress.
select c.id, c.program_id, c.segment_id, c.key_id, c.name, c.points, c.expires_at,
       c.expiry_days, c.reason, c.starts_at, c.state, c.members, c.created_at, c.started_at,
       c.finished_at, c.templates::text as templates,
       (select coalesce(jsonb_object_agg(m.state || ':' || coalesce(m.why, ''), m.n), '{}')
        from (select state, why, count(*) as n from campaign_members
              where campaign_id = c.id group by state, why) m)::text as progress,
       (select coalesce(jsonb_object_agg(m.state || ':' || coalesce(m.reason, ''), m.n), '{}')
        from (select state, reason, count(*) as n from messages
              where campaign_id = c.id group by state, reason) m)::text as message_progress
from campaigns c
where c.program_id = $1 and (c.created_at, c.id) < ($2, $3)
order by c.created_at desc, c.id desc
limit $4;

-- name: due_campaigns
-- Scheduled campaigns whose start has come and running ones, oldest start first, at most $1.
select id from campaigns
where state in ('scheduled', 'running') and starts_at <= clock_timestamp()
order by starts_at, id
limit $1;

-- name: lock_campaign
-- Campaign $1's state under its row lock: two workers starting it take turns, and the second
-- finds it running with its snapshot taken.
select state from campaigns where id = $1 for update;

-- name: campaign_state
-- Campaign $1's state (null: none) and the database's clock, which a batch's expiry counts from.
select (select state from campaigns where id = $1) as state, clock_timestamp() as now;

-- name: campaign_started
-- Campaign $1 runs over its $2 members.
update campaigns set state = 'running', members = $2, started_at = clock_timestamp()
where id = $1 and state = 'scheduled';

-- name: pending_members
-- Up to $2 of campaign $1's members not yet done.
select customer_id from campaign_members
where campaign_id = $1 and state = 'pending'
order by customer_id
limit $2;

-- name: settle_members
-- A batch of campaign $1's members done, in one statement: member $2[i] is $3[i] (accrued,
-- messaged, skipped), why $4[i], operation $5[i]. A member another worker settled first stays
-- as it was. When the campaign has a message, each member settled accrued or messaged gets
-- its message event (keyed as its accrual, so a second worker's insert writes nothing).
with settled as (
    update campaign_members m
    set state = settled.state, why = settled.why, operation_id = settled.operation_id,
        done_at = clock_timestamp()
    from unnest($2::uuid[], $3::text[], $4::text[], $5::uuid[])
        as settled (customer_id, state, why, operation_id)
    where m.campaign_id = $1 and m.customer_id = settled.customer_id and m.state = 'pending'
    returning m.customer_id, m.state, m.operation_id
)
insert into message_events (event_key, program_id, type, payload)
select 'campaign:' || c.id || ':' || s.customer_id, c.program_id, 'campaign.message',
       jsonb_build_object('customer_id', s.customer_id, 'campaign_id', c.id,
                          'points', coalesce(c.points, 0), 'operation_id', s.operation_id)
from settled s
join campaigns c on c.id = $1
where s.state in ('accrued', 'messaged') and jsonb_array_length(c.templates) > 0
on conflict (event_key) do nothing;

-- name: campaign_templates
-- The templates of campaign $1 while its messages are wanted: a cancelled campaign makes no
-- more. The row is share-locked until the relay's transaction ends, so a cancel waits for the
-- messages being made and then finds them queued.
select templates::text as templates from campaigns
where id = $1 and state in ('running', 'finished')
for share;

-- name: finish_campaign
-- Campaign $1 finished when it runs and no member is pending.
update campaigns set state = 'finished', finished_at = clock_timestamp()
where id = $1 and state = 'running'
  and not exists (select 1 from campaign_members m
                  where m.campaign_id = $1 and m.state = 'pending')
returning id;

-- name: cancel_campaign
-- Campaign $7 cancelled at $8 with the answer ($1-$6), when it is scheduled or running (the row
-- lock rechecks it): nothing written otherwise, the answer included.
with target as (
    select id from campaigns
    where id = $7 and state in ('scheduled', 'running')
    for update
), answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6 from target
    on conflict do nothing
    returning key_id
), cancelled as (
    update campaigns set state = 'cancelled', finished_at = $8
    from answer
    where campaigns.id = $7
    returning campaigns.id
), unsent as (
    -- Its messages not yet sent are not sent (one already with its provider is marked sent
    -- when the provider answers: message_sent).
    update messages set state = 'suppressed', reason = 'campaign_cancelled'
    from cancelled
    where messages.campaign_id = cancelled.id and messages.state = 'queued'
)
select id from cancelled;

-- name: member_attempt_failed
-- Member $2 of campaign $1 raised $3: counted, and failed once it has raised $4 times.
update campaign_members
set attempts = attempts + 1,
    state = case when attempts + 1 >= $4 then 'failed' else state end,
    why = case when attempts + 1 >= $4 then left($3, 100) else why end,
    done_at = case when attempts + 1 >= $4 then clock_timestamp() else done_at end
where campaign_id = $1 and customer_id = $2 and state = 'pending';
