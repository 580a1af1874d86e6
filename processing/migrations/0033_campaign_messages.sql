-- A campaign's message (decision 0024, issue 19): a campaign accrues points, sends a message, or
-- both. Its templates are the triggers' (one per channel and locale); each member it accrued to
-- (or, without points, each member) becomes one message event keyed campaign:<id>:<customer>,
-- which the message relay turns into messages as it turns a trigger's events, with consent,
-- quiet hours and the daily cap. The messages name their campaign, so its figures (sent,
-- suppressed, failed) are one index range.
alter table campaigns alter column points drop not null;
alter table campaigns add column templates jsonb not null default '[]'
    check (jsonb_typeof(templates) = 'array');
alter table campaigns add constraint campaigns_does_something
    check (points is not null or jsonb_array_length(templates) > 0);
alter table campaigns add constraint campaigns_expiry_with_points
    check (points is not null or (expires_at is null and expiry_days is null));

-- A member of a campaign without points is "messaged" once its message event is written.
alter table campaign_members drop constraint campaign_members_state_check;
alter table campaign_members add constraint campaign_members_state_check
    check (state in ('pending', 'accrued', 'messaged', 'skipped', 'failed'));

alter table messages add column campaign_id uuid references campaigns (id);
create index messages_of_campaign on messages (campaign_id, state) where campaign_id is not null;
