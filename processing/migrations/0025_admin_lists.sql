-- The operator's lists page newest first by (created_at, id), continuing below the last item
-- shown (processing/service/paging.py). Without these indexes every page of a program's keys or
-- of a connection's inbox would sort all of them; with them a page reads its own rows only.
create index api_keys_program_created on api_keys (program_id, created_at desc, id desc);
create index programs_created on programs (created_at desc, id desc);
-- The inbox is the big one (every partner event ever received): a page of all of a
-- connection's events, and a page of those in one status (dead or pending among millions done).
create index channel_inbox_received on channel_inbox (connection_id, received_at desc, id desc);
create index channel_inbox_status_received
    on channel_inbox (connection_id, status, received_at desc, id desc);
