"""Customers, their cards and blocks (named queries in ``sql/customers.sql``). Mixed into
``PostgresStore``."""

import json
from collections.abc import AsyncIterator
from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from processing.adapters.postgres.membership import member_of
from processing.adapters.postgres.named import NamedQueries, answer_row
from processing.adapters.postgres.queries import QUERIES
from processing.adapters.postgres.rows import record_of
from processing.adapters.postgres.turns import TurnQueries, locked_account, lot_of, rules_record
from processing.core.membership import in_force
from processing.core.merges import MergeSide
from processing.core.model import Account
from processing.service.ports import (
    Answer,
    Applied,
    CardChange,
    CardStatus,
    CustomerChange,
    CustomerEdit,
    Enrollment,
    Erasure,
    ExportedLot,
    Merge,
    MergeFacts,
    MergeParty,
    NewCustomer,
    Plan,
)
from processing.service.records import (
    CardEventRecord,
    ConsentRecord,
    CustomerChangeRecord,
    CustomerFilter,
    CustomerListItem,
    CustomerRecord,
    Position,
    TierBand,
)

# An enrollment or a card issued that lost its phone or card number to another writes nothing
# and is decided again, which then sees the number taken.
_taken = frozenset({"customers_program_id_phone_key", "cards_pkey"})


class CustomerQueries(NamedQueries, TurnQueries):
    """An enrollment with a welcome bonus applies its plan as every ledger write does."""

    async def enrollment(
        self,
        program_id: UUID,
        customer_id: UUID,
        card_number: str | None,
        referred_by: UUID | None,
        phone: str | None,
        promoter_code: str | None = None,
    ) -> Enrollment | None:
        row = await self._fetchrow(
            "enrollment", program_id, customer_id, card_number, referred_by, phone, promoter_code
        )
        if row is None:
            return None
        return Enrollment(
            country=row["country"],
            locked=locked_account(row, ()),
            rules=rules_record(
                program_id, row["rules_version"], row["rules"], row["rules_at"], row["expiry_days"]
            ),
            card_taken=row["card_taken"],
            referrer_found=row["referrer_found"],
            holder=row["holder"],
            promoter_id=row["promoter_id"],
        )

    async def enroll(self, customer: NewCustomer, welcome: Plan | None, answer: Answer) -> bool:
        arguments = (
            customer.id,
            customer.program_id,
            customer.phone,
            customer.name,
            customer.birthday,
            json.dumps(customer.attributes),
            customer.referred_by,
            customer.created_at,
            customer.card_number,
            customer.key_id,
        )
        # $18 and $19, after the flag that says whether a bonus follows
        added = (customer.email, customer.locale, customer.promoter_id)
        if welcome is None:
            row = await self._answered(
                "enroll_customer", answer, *arguments, False, *added, races=_taken
            )
            return row is not None
        try:
            async with self.connection.transaction():
                version = await self.connection.fetchval(
                    QUERIES["enroll_customer"],
                    *answer_row(answer),
                    *arguments,
                    True,
                    *added,
                )
                applied = await self.apply_plan(msgspec.structs.replace(welcome, version=version))
                if applied is not Applied.applied:
                    raise _Lost
        except _Lost:
            return False
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name in _taken:
                return False
            raise
        return True

    async def find_customer_by_phone(self, program_id: UUID, phone: str) -> UUID | None:
        value = await self.connection.fetchval(QUERIES["find_customer_by_phone"], program_id, phone)
        return value  # type: ignore[no-any-return]

    async def get_customer(self, customer_id: UUID, scope: UUID | None) -> CustomerRecord | None:
        row = await self._fetchrow("get_customer", customer_id, scope)
        return None if row is None else _shown(row)

    async def customer_change(
        self, customer_id: UUID, scope: UUID | None, card_number: str | None
    ) -> CustomerChange | None:
        row = await self._fetchrow("customer_change", customer_id, scope, card_number)
        if row is None:
            return None
        return CustomerChange(
            customer=_customer(row),
            version=row["version"],
            customer_version=row["customer_version"],
            country=row["country"],
            now=row["now"],
            card_taken=row["card_taken"],
        )

    async def customer_accounts(
        self, customer_id: UUID, scope: UUID | None
    ) -> tuple[UUID, ...] | None:
        value = await self.connection.fetchval(QUERIES["customer_accounts"], customer_id, scope)
        return None if value is None else tuple(value)

    async def list_customers(
        self,
        program_id: UUID,
        narrowed: CustomerFilter,
        band: TierBand | None,
        after: Position,
        limit: int,
    ) -> list[CustomerListItem]:
        rows = await self._fetch(
            "list_customers",
            program_id,
            after.at,
            after.id,
            narrowed.phone,
            narrowed.card,
            None if narrowed.name_prefix is None else _like_escaped(narrowed.name_prefix),
            narrowed.tier_floor,
            narrowed.blocked,
            narrowed.available_min,
            narrowed.available_max,
            narrowed.created_from,
            narrowed.created_to,
            limit,
            None if band is None else band.low_minor,
            None if band is None else band.high_minor,
            None if band is None else band.window_days,
            None if band is None else band.names,
            None if band is None else band.thresholds_minor,
        )
        return [
            CustomerListItem(
                id=row["id"],
                phone=row["phone"],
                name=row["name"],
                birthday=row["birthday"],
                created_at=row["created_at"],
                tier_floor=row["tier_floor"],
                blocked=row["blocked_reason"] is not None,
                blocked_reason=row["blocked_reason"],
                available=row["available"],
                pending=row["pending"],
                reserved=row["reserved"],
                debt=row["debt"],
            )
            for row in rows
        ]

    async def update_customer(self, edit: CustomerEdit, answer: Answer) -> bool:
        row = await self._answered(
            "update_customer",
            answer,
            edit.customer_id,
            edit.version,
            edit.phone,
            edit.name,
            edit.email,
            edit.birthday,
            json.dumps(edit.attributes),
            edit.change_id,
            edit.key_id,
            edit.reason,
            json.dumps(edit.changes, default=str),
            edit.at,
            edit.locale,
            races=_taken,
        )
        return row is not None and bool(row[0])

    async def record_consent(
        self, program_id: UUID, customer_id: UUID, consent: ConsentRecord, answer: Answer
    ) -> bool:
        row = await self._answered(
            "record_consent",
            answer,
            consent.id,
            customer_id,
            program_id,
            consent.channel,
            consent.granted,
            consent.source,
            consent.wording,
            consent.key_id,
            consent.recorded_at,
        )
        return row is not None

    async def consents_in_force(self, customer_id: UUID) -> list[ConsentRecord]:
        rows = await self._fetch("consents_in_force", customer_id)
        return [record_of(row, ConsentRecord) for row in rows]

    async def consent_history(
        self, customer_id: UUID, after: Position, limit: int
    ) -> list[ConsentRecord]:
        rows = await self._fetch("consent_history", customer_id, after.at, after.id, limit)
        return [record_of(row, ConsentRecord) for row in rows]

    async def erase_customer(self, erasure: Erasure, answer: Answer) -> bool:
        row = await self._answered(
            "erase_customer",
            answer,
            erasure.customer_id,
            erasure.version,
            erasure.at,
            erasure.key_id,
            erasure.reason,
            erasure.change_id,
        )
        return row is not None and bool(row[0])

    async def merge_facts(
        self, survivor_id: UUID, merged_id: UUID, scope: UUID | None
    ) -> MergeFacts:
        rows = await self._fetch("merge_facts", survivor_id, merged_id, scope)
        parties = {row["id"]: _merge_party(row) for row in rows}
        now = rows[0]["now"] if rows else None  # none found: refused, no clock needed
        return MergeFacts(survivor=parties.get(survivor_id), merged=parties.get(merged_id), now=now)

    async def merge_customers(self, merge: Merge, answer: Answer) -> bool:
        row = await self._answered(
            "merge_customers",
            answer,
            merge.survivor_id,
            merge.survivor_version,
            merge.merged_id,
            merge.merged_version,
            merge.operation_id,
            merge.program_id,
            merge.debt,
            merge.posted_after,
            merge.debt_after,
            merge.tier_floor,
            merge.reason,
            list(merge.lot_ids),
            list(merge.lot_points),
            merge.channel,
            merge.key_id,
            merge.at,
            merge.available_after,
            merge.change_ids[0],
            merge.change_ids[1],
            json.dumps(merge.event),
            merge.points,
            list(merge.event_types),
        )
        return row is not None and bool(row[0])

    async def customer_changes(
        self, customer_id: UUID, after: Position, limit: int
    ) -> list[CustomerChangeRecord]:
        rows = await self._fetch("customer_changes", customer_id, after.at, after.id, limit)
        return [
            CustomerChangeRecord(
                id=row["id"],
                created_at=row["created_at"],
                key_id=row["key_id"],
                reason=row["reason"],
                changes=json.loads(row["changes"]),
            )
            for row in rows
        ]

    async def issue_card(
        self,
        program_id: UUID,
        number: str,
        customer_id: UUID,
        key_id: UUID,
        at: datetime,
        answer: Answer,
    ) -> bool:
        row = await self._answered(
            "issue_card", answer, program_id, number, customer_id, key_id, at, races=_taken
        )
        return row is not None

    async def find_card(self, program_id: UUID, number: str) -> asyncpg.Record | None:
        return await self._fetchrow("find_card", program_id, number)

    async def card_change(self, program_id: UUID, number: str) -> CardChange | None:
        row = await self._fetchrow("card_change", number, program_id)
        if row is None:
            return None
        return CardChange(
            program_id=program_id,
            customer_id=row["customer_id"],
            status=row["status"],
            reason=row["reason"],
            events=msgspec.json.decode(row["events"], type=list[CardEventRecord]),
            now=row["now"],
        )

    async def set_card_status(self, change: CardStatus, answer: Answer) -> bool:
        written = await self.connection.fetchval(
            QUERIES["set_card_status"],
            *answer_row(answer),
            change.program_id,
            change.number,
            change.was,
            change.status,
            change.reason,
            change.key_id,
            change.at,
        )
        return bool(written)

    async def card_journal(self, program_id: UUID, number: str) -> list[CardEventRecord]:
        rows = await self._fetch("card_journal", program_id, number)
        return [record_of(row, CardEventRecord) for row in rows]

    async def set_account_block(
        self, account_id: UUID, version: int, reason: str | None, answer: Answer
    ) -> bool:
        row = await self._answered("set_account_block", answer, account_id, version, reason)
        return row is not None

    async def exported_lots(self, program_id: UUID, batch_rows: int) -> AsyncIterator[ExportedLot]:
        cursor = self.connection.cursor(QUERIES["exported_lots"], program_id, prefetch=batch_rows)
        async for row in cursor:
            yield record_of(row, ExportedLot)


def _like_escaped(text: str) -> str:
    """``text`` matched literally by LIKE ... ESCAPE '\\': its own % and _ are not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _Lost(Exception):
    """The welcome plan of an enrollment wrote nothing: its key answered meanwhile."""


def _merge_party(row: asyncpg.Record) -> MergeParty:
    account = Account(
        id=row["id"],
        posted=row["posted"],
        reserved=row["reserved"],
        debt=row["debt"],
        blocked=row["blocked"],
        lots=tuple(map(lot_of, row["lots"])),
    )
    side = MergeSide(
        account=account,
        program_id=row["program_id"],
        erased=row["erased_at"] is not None,
        merged_into=row["merged_into"],
    )
    return MergeParty(
        side=side, customer=_customer(row), version=row["version"], tier_floor=row["tier_floor"]
    )


def _customer(row: asyncpg.Record) -> CustomerRecord:
    fields = {name: row[name] for name in _customer_fields}
    fields["attributes"] = json.loads(fields["attributes"])
    fields["cards"] = json.loads(fields["cards"])
    fields["blocked"] = fields["blocked_reason"] is not None
    return msgspec.convert(fields, CustomerRecord)


def _shown(row: asyncpg.Record) -> CustomerRecord:
    """The customer as ``get_customer`` reads it: with the paid membership in force."""
    membership = in_force(member_of(row["membership"]), row["now"])
    return msgspec.structs.replace(_customer(row), membership=membership)


_customer_fields = (
    "id",
    "program_id",
    "phone",
    "name",
    "email",
    "locale",
    "birthday",
    "attributes",
    "created_at",
    "blocked_reason",
    "erased_at",
    "cards",
)
