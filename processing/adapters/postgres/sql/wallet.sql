-- name: wallet_facts
-- What a change of program $1's Apple Wallet settings is decided on (scoped to $2, a program
-- key's own; null: the operator): the program, its settings if any, and the database clock.
select p.id as program_id, clock_timestamp() as now, s.pass_type_identifier,
    s.team_identifier, s.organization_name, s.description, s.background_color,
    s.foreground_color, s.label_color, s.terms, s.credentials_sealed, s.certificate_subject,
    s.certificate_not_after, s.logo_png, s.icon_png, s.updated_at
from programs p
left join apple_wallet_settings s on s.program_id = p.id
where p.id = $1 and ($2::uuid is null or p.id = $2);

-- name: wallet_settings
-- Program $1's Apple Wallet settings, the credentials still sealed.
select * from apple_wallet_settings where program_id = $1;

-- name: save_wallet_settings
-- Program $7's settings ($8-$18: pass type, team, organization, description, three colours,
-- terms, sealed credentials, certificate subject and expiry; by key $19 at $20), with the
-- answer ($1-$6) in one statement; the images already uploaded stay.
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    values ($1, $2, $3, $4, $5, $6) on conflict do nothing
    returning key_id
)
insert into apple_wallet_settings (
    program_id, pass_type_identifier, team_identifier, organization_name, description,
    background_color, foreground_color, label_color, terms, credentials_sealed,
    certificate_subject, certificate_not_after, key_id, updated_at
)
select $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20
from answer
on conflict (program_id) do update set
    pass_type_identifier = excluded.pass_type_identifier,
    team_identifier = excluded.team_identifier,
    organization_name = excluded.organization_name,
    description = excluded.description,
    background_color = excluded.background_color,
    foreground_color = excluded.foreground_color,
    label_color = excluded.label_color,
    terms = excluded.terms,
    credentials_sealed = excluded.credentials_sealed,
    certificate_subject = excluded.certificate_subject,
    certificate_not_after = excluded.certificate_not_after,
    key_id = excluded.key_id,
    updated_at = excluded.updated_at
returning program_id;

-- name: save_wallet_image
-- Program $7's image $8 ('logo' or 'icon') becomes PNG $9 at $10, with the answer ($1-$6), in
-- one statement; a program with no settings yet writes nothing (its answer included).
with answer as (
    insert into idempotency_keys (key_id, key, fingerprint, status_code, media_type, body)
    select $1, $2, $3, $4, $5, $6
    where exists (select 1 from apple_wallet_settings where program_id = $7)
    on conflict do nothing
    returning key_id
)
update apple_wallet_settings set
    logo_png = case when $8 = 'logo' then $9::bytea else logo_png end,
    icon_png = case when $8 = 'icon' then $9::bytea else icon_png end,
    updated_at = $10
from answer
where program_id = $7
returning program_id;

-- name: wallet_card
-- Card $2 of program $1 with its customer's name: what the card's pass shows of them.
select c.customer_id, c.status, u.name as customer_name
from cards c
join customers u on u.id = c.customer_id
where c.program_id = $1 and c.number = $2;

-- name: wallet_operations
-- The last $2 operations of customer $1 that moved points (not the holds' reserve and cancel),
-- newest first: the back of the customer's pass.
select type, points, created_at
from operations
where account_id = $1 and type not in ('reserve', 'cancel')
order by seq desc
limit $2;

-- name: issue_wallet_pass
-- The pass of card $3 of program $2: made now with serial $1, sealed token $4 and content digest
-- $5 when the card has none, else the one it has (its serial and token never change).
with made as (
    insert into wallet_passes (
        serial_number, program_id, card_number, authentication_token_sealed, content_sha256,
        updated_tag, updated_at, created_at
    )
    values ($1, $2, $3, $4, $5, nextval('wallet_pass_tags'), clock_timestamp(), clock_timestamp())
    on conflict (program_id, card_number) do nothing
    returning *
)
select * from made
union all
select * from wallet_passes where program_id = $2 and card_number = $3
    and not exists (select 1 from made);

-- name: wallet_pass
-- The pass with serial $1.
select * from wallet_passes where serial_number = $1;

-- name: move_wallet_tag
-- Pass $1 shows something new (digest $3, no longer $2): its tag moves to the next of the
-- sequence, and its time at least into the next whole second, since Last-Modified and
-- If-Modified-Since are whole seconds. A pass another request moved meanwhile is not moved
-- again (no row).
update wallet_passes
set content_sha256 = $3,
    updated_tag = nextval('wallet_pass_tags'),
    updated_at = greatest(clock_timestamp(), date_trunc('second', updated_at) + interval '1 second')
where serial_number = $1 and content_sha256 = $2
returning *;

-- name: register_wallet_device
-- Device $1 registers for pass $2 (of type $3) with push token $4; registered already: the
-- push token is renewed. created: whether the registration is new.
insert into wallet_device_registrations (
    device_library_identifier, serial_number, pass_type_identifier, push_token, pushed_tag
)
select $1, $2, $3, $4, p.updated_tag from wallet_passes p where p.serial_number = $2
on conflict (device_library_identifier, serial_number) do update
    set push_token = excluded.push_token, pass_type_identifier = excluded.pass_type_identifier
returning (xmax = 0) as created;

-- name: unregister_wallet_device
-- Device $1 no longer wants pass $2's updates.
delete from wallet_device_registrations
where device_library_identifier = $1 and serial_number = $2
returning serial_number;

-- name: wallet_device_passes
-- The passes of type $2 device $1 is registered for, at most $3, oldest registration first.
select p.*
from wallet_device_registrations r
join wallet_passes p on p.serial_number = r.serial_number
where r.device_library_identifier = $1 and r.pass_type_identifier = $2
order by r.created_at, p.serial_number
limit $3;

-- name: lease_wallet_changes
-- Up to $1 due Apple Wallet changes, each leased for $2 seconds (its next attempt moves past
-- the lease, so no other worker takes it meanwhile), oldest first.
with due as (
    select id from wallet_changes
    where wallet = 'apple' and next_attempt_at <= clock_timestamp()
    order by next_attempt_at, id
    limit $1
    for update skip locked
)
update wallet_changes w
set attempts = w.attempts + 1, next_attempt_at = clock_timestamp() + make_interval(secs => $2)
from due where w.id = due.id
returning w.id, w.program_id, w.customer_id, w.attempts;

-- name: finish_wallet_change
-- Wallet change $1 is done: every device of the customer's passes was pushed (or is gone).
delete from wallet_changes where id = $1;

-- name: retry_wallet_change
-- Wallet change $1 is tried again in $2 seconds.
update wallet_changes set next_attempt_at = clock_timestamp() + make_interval(secs => $2)
where id = $1;

-- name: customer_wallet_passes
-- The passes of customer $1's cards in program $2.
select p.*
from wallet_passes p
join cards c on c.program_id = p.program_id and c.number = p.card_number
where c.program_id = $2 and c.customer_id = $1
order by p.serial_number;

-- name: wallet_devices_behind
-- The devices registered for pass $1 not yet pushed for its tag $2.
select device_library_identifier, push_token, pass_type_identifier
from wallet_device_registrations
where serial_number = $1 and pushed_tag < $2
order by device_library_identifier;

-- name: wallet_device_pushed
-- Device $1 was pushed for pass $2 at tag $3.
update wallet_device_registrations set pushed_tag = greatest(pushed_tag, $3)
where device_library_identifier = $1 and serial_number = $2;

-- name: apple_wallet_credentials_for_sealing
-- Every program's sealed pass credentials, locked, for re-sealing under the current key.
select program_id, credentials_sealed from apple_wallet_settings order by program_id for update;

-- name: seal_apple_wallet_credentials
update apple_wallet_settings set credentials_sealed = $2 where program_id = $1;

-- name: wallet_pass_tokens_for_sealing
-- The next $2 passes after serial $1 (null: from the first) with their sealed tokens, locked,
-- for re-sealing under the current key a page at a time.
select serial_number, authentication_token_sealed
from wallet_passes
where $1::uuid is null or serial_number > $1
order by serial_number
limit $2
for update;

-- name: seal_wallet_pass_tokens
-- Passes $1 get the tokens $2 (the same order), re-sealed.
update wallet_passes p
set authentication_token_sealed = resealed.token
from unnest($1::uuid[], $2::text[]) as resealed (serial_number, token)
where p.serial_number = resealed.serial_number;
