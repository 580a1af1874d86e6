-- Message retention (decision 0023): the worker purges messages sent, failed or suppressed
-- before limits.message_retention_seconds (not a campaign's: its figures are counted from
-- them), and the message_events processed before it that no scan could make again, oldest
-- first in bounded batches. These indexes let a batch find the oldest directly, and a pass
-- with nothing old enough read nothing.
create index messages_settled on messages (created_at)
    where state <> 'queued' and campaign_id is null;
create index message_events_processed on message_events (processed_at)
    where processed_at is not null;
