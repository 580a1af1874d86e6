-- Segments: a saved filter over a program's customers, versioned as rules are. A segment is an
-- id in a program; each change of its name or filter adds a version, and versions are never
-- changed or removed, so a count or an export names the version it was taken under.
create table segments (
    id uuid primary key,
    program_id uuid not null references programs (id),
    created_at timestamptz not null
);
-- The program's segment list, newest first (keyset paging).
create index segments_program_created on segments (program_id, created_at desc, id desc);

create table segment_versions (
    segment_id uuid not null references segments (id),
    version integer not null check (version >= 1),
    name text not null check (length(name) between 1 and 200),
    filter jsonb not null check (jsonb_typeof(filter) = 'object'),
    key_id uuid references api_keys (id),
    created_at timestamptz not null,
    primary key (segment_id, version)
);
create trigger segment_versions_immutable before update or delete on segment_versions
    for each row execute function refuse_row_change();

-- The newest exact count of each version of a segment of a large program, taken in the
-- background: how many customers matched at counted_at. A later count replaces it.
create table segment_counts (
    segment_id uuid not null,
    version integer not null,
    exact bigint not null check (exact >= 0),
    counted_at timestamptz not null,
    primary key (segment_id, version),
    foreign key (segment_id, version) references segment_versions (segment_id, version)
);

-- The expiring-points predicate reads only the open lots of the program that expire within its
-- window: this index finds them by (program, expiry) and carries what the sum needs (the
-- account, remaining, held, activation), so the count is an index-only range scan of the
-- window plus one hash aggregate, not a probe of every customer's lots (EXPLAIN ANALYZE in
-- loadtests/segments.py shows it: 1,000,000 customers, 4,000,000 lots). The available and
-- pending predicates use it the same way over all of the program's open lots.
create index lots_program_expiring on lots (program_id, expires_at)
    include (account_id, remaining, held, activates_at) where open;
-- Purchases by program and time, for the purchase count, money and recency predicates (the
-- existing index is by account, which a whole-program aggregate cannot use).
create index purchases_program_created on purchases (program_id, created_at)
    include (account_id, money_minor);
