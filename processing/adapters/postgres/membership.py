"""Paid membership (``sql/membership.sql``, decision 0035): levels, memberships and their
money. Mixed into ``PostgresStore``."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from processing.adapters.postgres.named import NamedQueries
from processing.core.membership import (
    Cancellation,
    EarnMode,
    Level,
    Membership,
    Period,
    Privileges,
    ends_at,
    grace_ends_at,
)
from processing.service.ports import (
    Answer,
    LevelRecord,
    MembershipFacts,
    MembershipWrite,
    StoredMembership,
)

_taken = frozenset({"memberships_in_force", "membership_payments_program_id_type_document_id_key"})


def level_of(fields: Any) -> Level:
    return Level(
        id=UUID(str(fields["id"])),
        name=fields["name"],
        price_minor=int(fields["price_minor"]),
        currency=fields["currency"],
        period=Period(fields["period"]),
        grace_days=int(fields["grace_days"]),
        privileges=Privileges(
            earn_bp=int(fields["earn_bp"]),
            earn_mode=EarnMode(fields["earn_mode"]),
            discount_bp=int(fields["discount_bp"]),
            free_delivery=bool(fields["free_delivery"]),
        ),
        cancellation=Cancellation(fields["cancellation"]),
    )


def _moment(value: str) -> datetime:
    # JSON from Postgres carries the session's offset; the core counts months in UTC.
    return msgspec.convert(value, datetime).astimezone(UTC)


def stored_membership(text: str | None) -> StoredMembership | None:
    if text is None:
        return None
    fields = msgspec.json.decode(text)
    status = fields["status"]
    cancelled = fields.get("cancelled_at")
    membership = Membership(
        id=UUID(fields["id"]),
        customer_id=UUID(fields["customer_id"]),
        level=level_of(fields["level"]),
        anchor_at=_moment(fields["anchor_at"]),
        periods=int(fields["periods"]),
        cancelled_at=None if cancelled is None else _moment(cancelled),
        lapsed=status == "lapsed",
    )
    return StoredMembership(
        membership=membership,
        version=int(fields["version"]),
        status=status,
        paid_minor=int(fields.get("paid_minor") or 0),
        refund_minor=fields.get("refund_minor"),
    )


def member_of(text: str | None) -> Membership | None:
    stored = stored_membership(text)
    return None if stored is None else stored.membership


class MembershipQueries(NamedQueries):
    async def insert_membership_level(self, record: LevelRecord, answer: Answer) -> bool:
        level = record.level
        row = await self._answered(
            "insert_membership_level",
            answer,
            level.id,
            record.program_id,
            level.name,
            level.price_minor,
            level.currency,
            level.period.value,
            level.grace_days,
            level.privileges.earn_bp,
            level.privileges.earn_mode.value,
            level.privileges.discount_bp,
            level.privileges.free_delivery,
            level.cancellation.value,
            record.key_id,
            record.created_at,
            races=frozenset({"membership_levels_program_id_name_key"}),
        )
        return row is not None

    async def membership_levels(self, program_id: UUID) -> list[LevelRecord]:
        rows = await self._fetch("membership_levels", program_id)
        return [
            LevelRecord(
                level=level_of(row),
                program_id=row["program_id"],
                key_id=None,
                created_at=row["created_at"],
            )
            for row in rows
        ]

    async def membership_facts(
        self,
        customer_id: UUID,
        program_id: UUID,
        level_id: UUID | None,
        document_id: str,
        payment_type: str,
    ) -> MembershipFacts:
        row = await self._fetchrow(
            "membership_facts", customer_id, program_id, level_id, document_id, payment_type
        )
        if row is None:  # a select with no from always returns its row
            raise RuntimeError("membership_facts returned no row")
        level = row["level"]
        return MembershipFacts(
            now=row["now"],
            customer_found=row["customer_found"],
            currency=row["currency"],
            levels=int(row["levels"]),
            level=None if level is None else level_of(msgspec.json.decode(level)),
            membership=stored_membership(row["membership"]),
            document_taken=row["document_taken"],
        )

    def _payment_arguments(self, write: MembershipWrite) -> tuple[Any, ...]:
        payment = write.payment
        return (
            payment.id,
            payment.amount_minor,
            payment.currency,
            payment.channel,
            payment.store_id,
            payment.document_id,
            payment.key_id,
        )

    async def start_membership(self, write: MembershipWrite, answer: Answer) -> bool:
        membership, payment = write.membership, write.payment
        row = await self._answered(
            "start_membership",
            answer,
            membership.id,
            membership.customer_id,
            write.program_id,
            membership.level.id,
            membership.anchor_at,
            membership.periods,
            payment.period_ends_at,
            _grace_end(write),
            payment.created_at,
            *self._payment_arguments(write),
            write.event_payload,
            races=_taken,
        )
        return row is not None

    async def change_membership(self, write: MembershipWrite, answer: Answer) -> bool:
        membership, payment = write.membership, write.payment
        row = await self._answered(
            "change_membership",
            answer,
            membership.id,
            write.program_id,
            write.version,
            membership.periods,
            ends_at(membership),
            grace_ends_at(membership),
            write.status,
            membership.cancelled_at,
            write.refund_minor,
            payment.id,
            payment.type,
            payment.amount_minor,
            payment.currency,
            payment.period_starts_at,
            payment.period_ends_at,
            payment.channel,
            payment.store_id,
            payment.document_id,
            payment.key_id,
            payment.created_at,
            write.event_type,
            write.event_payload,
            races=_taken,
        )
        return row is not None

    async def customer_membership(
        self, customer_id: UUID, program_id: UUID
    ) -> StoredMembership | None:
        row = await self._fetchrow("customer_membership", customer_id, program_id)
        return None if row is None else stored_membership(row["membership"])

    async def sweep_memberships(
        self, now: datetime, limit: int, customer_id: UUID | None = None
    ) -> dict[str, int]:
        rows = await self._fetch("sweep_memberships", now, limit, customer_id)
        return {row["type"]: int(row["count"]) for row in rows}


def _grace_end(write: MembershipWrite) -> datetime:
    return grace_ends_at(write.membership)
