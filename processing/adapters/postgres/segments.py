"""Segments (``sql/segments.sql``), and the one statement a segment's filter compiles to.

A filter is compiled here, not stored as SQL: every value it carries becomes a ``$n``
parameter, every column and table comes from the fragments below (the whitelist), and the
tree's shape (all/any, nesting and predicate count bounded by the core) only joins them with
AND and OR. Mixed into ``PostgresStore``.

Facts summed over a customer's lots or purchases compile two ways:

- **joined** (counts, pages, exports): one grouped derived table per such predicate over the
  program's rows in its window (``lots_program_expiring``, ``purchases_program_created``),
  left-joined to the customers by hash, so a count reads each lot of the window once instead
  of probing every customer's lots;
- **per customer** (the estimate): a correlated subquery per sampled customer, so that a
  sample of 1 % of the customers costs about 1 % of a count.

Times are ``statement_timestamp()``: one moment for every part of the statement, and a
function rather than an outer column, so a derived table stays uncorrelated.
"""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.queries import QUERIES
from processing.core import limits
from processing.core import segments as core
from processing.service.ports import Answer, Audience, NewSegmentVersion, SegmentFacts
from processing.service.records import (
    Position,
    SegmentMemberRecord,
    SegmentRecord,
    SegmentVersionRecord,
)

_now = "statement_timestamp()"
# What a lot holds free now, and what is not active yet (as balance_of counts them).
_available = (
    "l.activates_at <= statement_timestamp() "
    "and (l.expires_at is null or l.expires_at > statement_timestamp())"
)
_pending = "l.activates_at > statement_timestamp()"
# Money a purchase paid, less what returns took back (as the tier standing counts it).
_money = (
    "p.money_minor - coalesce((select sum(pr.money_minor) from purchase_returns pr "
    "where pr.purchase_id = p.operation_id), 0)"
)


@dataclass
class _Compiled:
    """A statement being built: its parameters and the derived tables its predicates join."""

    audience: Audience
    joined: bool
    params: list[Any] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)
    # Compiling a predicate every customer of the segment must pass (a part of the top ``all``):
    # an aggregate whose range leaves out zero may then be an inner join narrowed by HAVING.
    required: bool = False

    def param(self, value: Any, cast: str) -> str:
        self.params.append(value)
        return f"${len(self.params)}::{cast}"

    def days(self, days: int) -> str:
        return f"make_interval(days => {self.param(days, 'integer')})"

    def program(self) -> str:
        return self.param(self.audience.program_id, "uuid")

    def aggregate(
        self, table: str, where: str, value: str, empty: str, low: int | None = None
    ) -> str:
        """A per-customer aggregate ``value`` over ``table`` rows matching ``where`` (alias
        ``l`` for lots, ``p`` for purchases), as an expression over the customer ``c``;
        ``empty`` when they have none."""
        alias = table[0]
        if not self.joined:
            return (
                f"coalesce((select {value} from {table} {alias} "
                f"where {alias}.account_id = c.id and {where}), {empty})"
            )
        name = f"f{len(self.joins)}"
        # A required aggregate of at least ``low`` > 0: only customers with such a sum can be
        # members, so the sums are narrowed first and joined inner (the smaller side).
        narrowed = self.required and low is not None and low > 0
        join = "join" if narrowed else "left join"
        having = f" having {value} >= {self.param(low, 'numeric')}" if narrowed else ""
        self.joins.append(
            f"{join} (select {alias}.account_id, {value} as value from {table} {alias} "
            f"where {alias}.program_id = {self.program()} and {where} "
            f"group by {alias}.account_id{having}) {name} on {name}.account_id = c.id"
        )
        return f"coalesce({name}.value, {empty})"


def _within(expression: str, low: int | None, high: int | None, compiled: _Compiled) -> str:
    parts = []
    if low is not None:
        parts.append(f"{expression} >= {compiled.param(low, 'numeric')}")
    if high is not None:
        parts.append(f"{expression} <= {compiled.param(high, 'numeric')}")
    return " and ".join(parts) or "true"


def _node(node: core.Node, compiled: _Compiled, top: bool = False) -> str:
    if isinstance(node, core.Group):
        joiner = " and " if node.combinator == "all" else " or "
        required = top and node.combinator == "all"
        return "(" + joiner.join(_part(part, compiled, required) for part in node.parts) + ")"
    return "(" + _predicate(node, compiled) + ")"


def _part(node: core.Node, compiled: _Compiled, required: bool) -> str:
    compiled.required = required and not isinstance(node, core.Group)
    try:
        return _node(node, compiled)
    finally:
        compiled.required = False


def _predicate(predicate: core.Predicate, compiled: _Compiled) -> str:  # noqa: C901
    if isinstance(predicate, core.PointsRange):
        where, value = (
            (_available, "sum(l.remaining - l.held)")
            if predicate.fact == "available"
            else (_pending, "sum(l.remaining)")
        )
        points = compiled.aggregate("lots", f"l.open and {where}", value, "0", predicate.min)
        return _within(points, predicate.min, predicate.max, compiled)
    if isinstance(predicate, core.Expiring):
        window = _expiring(predicate.within_days, compiled)
        points = compiled.aggregate("lots", window, _free, "0", predicate.min)
        return _within(points, predicate.min, predicate.max, compiled)
    if isinstance(predicate, core.Purchases):
        window = f"p.created_at > {_now} - {compiled.days(predicate.within_days)}"
        value = "count(*)" if predicate.fact == "purchase_count" else f"sum({_money})"
        total = compiled.aggregate("purchases", window, value, "0", predicate.min)
        return _within(total, predicate.min, predicate.max, compiled)
    if isinstance(predicate, core.DaysSinceLastPurchase):
        return _recency(predicate, compiled)
    if isinstance(predicate, core.LastPurchaseStore):
        return f"{_last_store(compiled)} = any({compiled.param(list(predicate.stores), 'text[]')})"
    if isinstance(predicate, core.Tier):
        return _tier(predicate, compiled)
    if isinstance(predicate, core.BirthdayMonth):
        months = compiled.param(list(predicate.months), "integer[]")
        return f"extract(month from c.birthday)::integer = any({months})"
    if isinstance(predicate, core.Attribute):
        pair = json.dumps({predicate.key: predicate.value})
        return f"c.attributes @> {compiled.param(pair, 'jsonb')}"
    if isinstance(predicate, core.Consent):
        latest = (
            "(select cc.granted from customer_consents cc where cc.customer_id = c.id "
            f"and cc.channel = {compiled.param(predicate.channel, 'text')} "
            "order by cc.recorded_at desc, cc.id desc limit 1)"
        )
        return f"coalesce({latest}, false) = {compiled.param(predicate.granted, 'boolean')}"
    if isinstance(predicate, core.Enrolled):
        return _enrolled(predicate, compiled)
    return f"(a.blocked_reason is not null) = {compiled.param(predicate.value, 'boolean')}"


# What an active lot expiring within the window still holds free: held points (an active
# hold's) are not there to burn, they leave with the hold's commit or come back on its cancel.
_free = "sum(l.remaining - l.held)"


def _expiring(within_days: int, compiled: _Compiled) -> str:
    return (
        f"l.open and l.activates_at <= {_now} and l.expires_at > {_now} "
        f"and l.expires_at <= {_now} + {compiled.days(within_days)}"
    )


def _recency(predicate: core.DaysSinceLastPurchase, compiled: _Compiled) -> str:
    """Whole days since the newest purchase: at least ``min`` means it was ``min`` days ago or
    earlier; at most ``max`` means less than ``max + 1`` days ago. Never bought: no match."""
    last = compiled.aggregate("purchases", "true", "max(p.created_at)", "null")
    parts = [f"{last} is not null"]
    if predicate.min is not None:
        parts.append(f"{last} <= {_now} - {compiled.days(predicate.min)}")
    if predicate.max is not None:
        parts.append(f"{last} > {_now} - {compiled.days(predicate.max + 1)}")
    return " and ".join(parts)


def _last_store(compiled: _Compiled) -> str:
    newest = (
        "select o.store_id from purchases p join operations o on o.id = p.operation_id "
        "where p.account_id = c.id order by p.created_at desc, p.operation_id desc limit 1"
    )
    if not compiled.joined:
        return f"({newest})"
    name = f"f{len(compiled.joins)}"
    compiled.joins.append(
        f"left join (select distinct on (p.account_id) p.account_id, o.store_id as value "
        f"from purchases p join operations o on o.id = p.operation_id "
        f"where p.program_id = {compiled.program()} "
        f"order by p.account_id, p.created_at desc, p.operation_id desc) {name} "
        f"on {name}.account_id = c.id"
    )
    return f"{name}.value"


def _reach(compiled: _Compiled, joined: bool) -> str:
    """The money that ranks the customer's tier: spend over the rules' window, raised to the
    threshold of the manual tier (a floor) when there is one."""
    audience = compiled.audience
    window = f"p.created_at > {_now} - {compiled.days(audience.tier_window_days)}"
    if joined:
        spend = compiled.aggregate("purchases", window, f"sum({_money})", "0")
    else:
        spend = (
            f"coalesce((select sum({_money}) from purchases p "
            f"where p.account_id = c.id and {window}), 0)"
        )
    names = compiled.param(list(audience.tier_names), "text[]")
    thresholds = compiled.param(list(audience.tier_thresholds_minor), "bigint[]")
    floor = (
        f"coalesce((select t.threshold from unnest({names}, {thresholds}) as t (name, threshold) "
        "where t.name = c.tier_floor), -1)"
    )
    return f"greatest({spend}, {floor})"


def _tier(predicate: core.Tier, compiled: _Compiled) -> str:
    audience = compiled.audience
    if predicate.name not in audience.tier_names:
        return "false"  # the rules no longer have it: nobody is in it
    at = audience.tier_names.index(predicate.name)
    reach = _reach(compiled, compiled.joined)
    low = compiled.param(audience.tier_thresholds_minor[at], "numeric")
    if at + 1 == len(audience.tier_names):
        return f"{reach} >= {low}"
    high = compiled.param(audience.tier_thresholds_minor[at + 1], "numeric")
    return f"{reach} >= {low} and {reach} < {high}"


def _enrolled(predicate: core.Enrolled, compiled: _Compiled) -> str:
    parts = []
    if predicate.start is not None:
        parts.append(f"c.created_at >= {compiled.param(predicate.start, 'timestamptz')}")
    if predicate.end is not None:
        parts.append(f"c.created_at < {compiled.param(predicate.end, 'timestamptz')}")
    return " and ".join(parts)


def _accounts(audience: Audience) -> str:
    """The account row, joined only when a predicate reads it (whether it is blocked)."""
    reads = any(isinstance(found, core.Blocked) for found in core.predicates(audience.filter))
    return " join accounts a on a.id = c.id" if reads else ""


def matching(audience: Audience, joined: bool = True, sample: str = "") -> tuple[str, list[Any]]:
    """``from … where …`` of the customers the filter matches, and its parameters ($1 the
    program). ``sample``: a TABLESAMPLE clause for the customers."""
    compiled = _Compiled(audience=audience, joined=joined)
    program = compiled.program()
    condition = _node(audience.filter, compiled, top=True)
    text = (
        f"from customers c {sample}{_accounts(audience)} "
        + " ".join(compiled.joins)
        + f" where c.program_id = {program} and c.erased_at is null and c.merged_into is null"
        + f" and {condition}"
    )
    return text, compiled.params


def count_statement(audience: Audience) -> tuple[str, list[Any]]:
    text, params = matching(audience)
    return f"select count(*) {text}", params


def estimate_statement(audience: Audience, percent: float) -> tuple[str, list[Any]]:
    """Over a SYSTEM sample of the customers' pages: how many of the program's customers were
    sampled, and how many of them match (each predicate per sampled customer)."""
    compiled = _Compiled(audience=audience, joined=False)
    program = compiled.program()
    condition = _node(audience.filter, compiled)
    share = compiled.param(percent, "float4")
    text = (
        f"select count(*) as sampled, count(*) filter (where {condition}) as matched "
        f"from customers c tablesample system ({share}){_accounts(audience)} "
        f"where c.program_id = {program} and c.erased_at is null and c.merged_into is null"
    )
    return text, compiled.params


def members_statement(audience: Audience, paged: bool) -> tuple[str, list[Any]]:
    """The members newest first with what a member shows; ``paged``: older than ($n, $n+1),
    at most $n+2, the last three parameters left for the caller."""
    text, params = matching(audience)
    shown = _Compiled(audience=audience, joined=False, params=params)
    expiring = (
        f"coalesce((select {_free} from lots l where l.account_id = c.id and "
        f"{_expiring(audience.expiring_days, shown)}), 0)"
    )
    window = shown.param(audience.expiring_days, "integer")
    tier = "null::text"  # the rules have no tiers: nothing to rank
    if audience.tier_names:
        names = shown.param(list(audience.tier_names), "text[]")
        thresholds = shown.param(list(audience.tier_thresholds_minor), "bigint[]")
        tier = (
            f"(select t.name from unnest({names}, {thresholds}) as t (name, threshold) "
            f"where t.threshold <= {_reach(shown, joined=False)} "
            "order by t.threshold desc limit 1)"
        )
    keyset = ""
    if paged:
        n = len(shown.params)
        keyset = f" and (c.created_at, c.id) < (${n + 1}::timestamptz, ${n + 2}::uuid)"
    limit = f" limit ${len(shown.params) + 3}" if paged else ""
    statement = (
        "select c.id, c.phone, c.name, c.created_at, "
        f"coalesce((select sum(l.remaining - l.held) from lots l where l.account_id = c.id "
        f"and l.open and {_available}), 0)::bigint as available, "
        f"coalesce((select sum(l.remaining) from lots l where l.account_id = c.id "
        f"and l.open and {_pending}), 0)::bigint as pending, "
        f"{expiring}::bigint as expiring, {window} as expiring_days, "
        f"{tier} as tier "
        "from (select c.id, c.phone, c.name, c.created_at, c.tier_floor "
        f"{text}{keyset} order by c.created_at desc, c.id desc{limit}) c "
        # The subquery's order, kept: no second sort, so an export's rows (and their
        # per-row sums) are computed as the cursor fetches them.
        "order by c.created_at desc, c.id desc"
    )
    return statement, shown.params


def _segment(row: Any) -> SegmentRecord:
    return SegmentRecord(
        id=row["id"],
        program_id=row["program_id"],
        version=row["version"],
        name=row["name"],
        filter=json.loads(row["filter"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _member(row: Any) -> SegmentMemberRecord:
    return SegmentMemberRecord(**dict(row))


class SegmentQueries(NamedQueries):
    async def segment_facts(
        self, program_id: UUID | None, segment_id: UUID | None, scope: UUID | None
    ) -> SegmentFacts | None:
        row = await self._fetchrow("segment_facts", program_id, segment_id, scope)
        return None if row is None else SegmentFacts(**dict(row))

    async def insert_segment_version(self, new: NewSegmentVersion, answer: Answer) -> bool:
        row = await self._answered(
            "insert_segment_version",
            answer,
            new.segment_id,
            new.program_id,
            new.version,
            new.name,
            json.dumps(new.filter),
            new.key_id,
            new.at,
            races=frozenset({"segment_versions_pkey", "segments_pkey"}),
        )
        return row is not None

    async def get_segment(self, segment_id: UUID, scope: UUID | None) -> SegmentRecord | None:
        row = await self._fetchrow("get_segment", segment_id, scope)
        return None if row is None else _segment(row)

    async def list_segments(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[SegmentRecord]:
        rows = await self._fetch("list_segments", program_id, after.at, after.id, limit)
        return [_segment(row) for row in rows]

    async def segment_versions(
        self, segment_id: UUID, before: int, limit: int
    ) -> list[SegmentVersionRecord]:
        rows = await self._fetch("segment_versions", segment_id, before, limit)
        return [
            SegmentVersionRecord(**{**dict(row), "filter": json.loads(row["filter"])})
            for row in rows
        ]

    async def program_customers(self, program_id: UUID, at_most: int | None = None) -> int:
        row = await self._fetchrow("program_customers", program_id, at_most)
        return int(row[0]) if row is not None else 0

    async def count_segment(self, audience: Audience) -> int:
        text, params = count_statement(audience)
        return int(await self.connection.fetchval(text, *params))

    async def estimate_segment(self, audience: Audience, percent: float) -> tuple[int, int]:
        text, params = estimate_statement(audience, percent)
        row = await self.connection.fetchrow(text, *params)
        return (0, 0) if row is None else (int(row["sampled"]), int(row["matched"]))

    async def stored_count(
        self, segment_id: UUID, version: int, fresh_seconds: float
    ) -> tuple[int, datetime, bool] | None:
        row = await self._fetchrow("stored_count", segment_id, version, fresh_seconds)
        return None if row is None else (int(row["exact"]), row["counted_at"], row["fresh"])

    async def store_count(self, segment_id: UUID, version: int, exact: int) -> datetime:
        counted_at: datetime = await self.connection.fetchval(
            QUERIES["store_count"], segment_id, version, exact
        )
        return counted_at

    async def segment_members(
        self, audience: Audience, after: Position, limit: int
    ) -> list[SegmentMemberRecord]:
        text, params = members_statement(audience, paged=True)
        rows = await self.connection.fetch(text, *params, after.at, after.id, limit)
        return [_member(row) for row in rows]

    async def segment_member_rows(
        self, audience: Audience, batch_rows: int
    ) -> AsyncIterator[SegmentMemberRecord]:
        text, params = members_statement(audience, paged=False)
        # A cursor is planned for its first tenth by default (cursor_tuple_fraction), which
        # favours a fast-start plan that probes every customer's lots; an export reads it all.
        await self.connection.execute("set local cursor_tuple_fraction = 1")
        # The first fetch sorts every member before the first row: an operator's export of a
        # large segment may take longer than the pool's timeout for a request's statement.
        await self.connection.execute(
            "select set_config('statement_timeout', $1, true)",
            f"{limits.segment_export_statement_seconds_max}s",
        )
        async for row in self.connection.cursor(text, *params, prefetch=batch_rows):
            yield _member(row)


__all__ = ["SegmentQueries", "count_statement", "members_statement"]
