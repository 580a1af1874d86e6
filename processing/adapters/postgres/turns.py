"""The Postgres side of load → decide → apply (named queries in ``sql/turns.sql``): one
statement reads what a write decides on, one statement applies the plan. Neither runs in an
explicit transaction: each statement is atomic on its own, and the apply is guarded by the
account's row version instead of a row lock held in between. Mixed into ``PostgresStore``."""

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from processing.adapters.postgres.membership import member_of
from processing.adapters.postgres.named import answer_arguments
from processing.adapters.postgres.queries import QUERIES
from processing.core.checkout import LineResult
from processing.core.model import (
    Account,
    Allocation,
    Hold,
    HoldStatus,
    Line,
    Lot,
    Operation,
    OperationType,
)
from processing.core.promo import Code as PromoCode
from processing.core.promo import PromoResult
from processing.core.returns import ReturnPlan
from processing.core.rules import Expiry, Rules, default_rules, expiry_in_force
from processing.service.ports import (
    Applied,
    Bought,
    LedgerWrite,
    LockedAccount,
    Plan,
    PurchaseChange,
    Snapshot,
)
from processing.service.records import RulesRecord, Standing, StoredResponse

# A plan that lost a race on these writes nothing: the key's answer, a receipt's one effect, a
# receipt's one open hold or a bonus's grant in its period is already there, and the caller
# decides again where it is seen.
_taken = frozenset(
    {"idempotency_keys_pkey", "operations_document", "holds_open_document", "bonus_grants_pkey"}
)
# A promo code's use past its cap (decision 0032): the code's, its campaign's or the customer's
# count. The statement wrote nothing; decided again, the use is seen capped and refused.
_capped = frozenset({"promo_codes_cap", "promo_campaigns_cap", "promo_customer_uses_cap"})
# The tier window of rules that do not name one (and of a program's defaults).
_default_window_days = Rules().tier_window_days


def lot_of(fields: tuple[Any, ...]) -> Lot:
    """A lot from the anonymous record of an array of lots."""
    lot_id, points, remaining, held, activates_at, expires_at = fields
    return Lot(
        id=lot_id,
        points=points,
        remaining=remaining,
        held=held,
        activates_at=activates_at,
        expires_at=expires_at,
    )


def locked_account(row: asyncpg.Record, lots: tuple[Lot, ...]) -> LockedAccount:
    account = Account(
        id=row["id"],
        posted=row["posted"],
        reserved=row["reserved"],
        debt=row["debt"],
        blocked=row["blocked"],
        lots=lots,
    )
    return LockedAccount(
        account=account,
        program_id=row["program_id"],
        hold_ttl_seconds_default=row["hold_ttl_seconds_default"],
        hold_ttl_seconds_max=row["hold_ttl_seconds_max"],
        expiry=expiry_in_force(
            None
            if row["rules_expiry"] is None
            else msgspec.json.decode(row["rules_expiry"], type=Expiry),
            row["expiry_days"],
        ),
        key_points_per_call_max=row["key_points_per_call_max"],
        key_points_per_day_max=row["key_points_per_day_max"],
        now=row["now"],
    )


def _hold(row: asyncpg.Record) -> Hold:
    return Hold(
        id=row["hold_id"],
        account_id=row["hold_account_id"],
        points=row["hold_points"],
        status=HoldStatus(row["hold_status"]),
        expires_at=row["hold_expires_at"],
        allocations=tuple(
            Allocation(lot_id=lot_id, points=points) for lot_id, points in row["hold_allocations"]
        ),
        document_id=row["hold_document_id"],
        receipt=None
        if row["hold_receipt"] is None
        else msgspec.json.decode(row["hold_receipt"], type=tuple[Line, ...]),
    )


def _original(row: asyncpg.Record) -> Operation:
    return Operation(
        id=row["original_id"],
        account_id=row["original_account_id"],
        type=OperationType(row["original_type"]),
        points=row["original_points"],
        refunded_points=row["original_refunded_points"],
        lot_movements=tuple(
            Allocation(lot_id=lot_id, points=points) for lot_id, points in row["original_movements"]
        ),
        redeemed_points=row["original_redeemed_points"],
        returned_points=row["original_returned_points"],
    )


def rules_record(
    program_id: UUID,
    version: int | None,
    stored: str | None,
    created_at: datetime | None,
    expiry_days: int | None,
) -> RulesRecord:
    """A version of a program's rules as stored; version 0, the defaults of the program's
    expiry_days, for a program never given any."""
    return RulesRecord(
        program_id=program_id,
        version=version or 0,
        rules=default_rules(expiry_days)
        if stored is None
        else msgspec.json.decode(stored, type=Rules),
        created_at=created_at,
    )


def _purchase_arguments(purchase: PurchaseChange | None) -> tuple[Any, ...]:
    """The purchases row's columns of a purchase's receipt as priced; all null for none."""
    if purchase is None:
        return (None,) * 5
    priced, fiscal = purchase.priced, purchase.fiscal
    return (
        priced.amount_minor,
        priced.money_minor,
        priced.tier,
        msgspec.json.encode(priced.lines).decode(),
        None if fiscal is None else json.dumps(fiscal),
    )


def _returns_arguments(plan: ReturnPlan | None) -> tuple[list[Any], ...]:
    """apply_plan's arrays of the lines a return takes back; empty for none."""
    lines = () if plan is None else plan.lines
    return (
        [line.line_id for line in lines],
        [line.quantity for line in lines],
        [line.earned_points for line in lines],
        [line.redeemed_points for line in lines],
        [line.money_minor for line in lines],
    )


def _promo_arguments(purchase: PurchaseChange | None) -> tuple[list[Any], ...]:
    """apply_plan's arrays of the promo codes a purchase applies; empty for none."""
    used: tuple[PromoResult, ...] = () if purchase is None else purchase.promos
    return (
        [result.code_id for result in used],
        [result.campaign_id for result in used],
        [result.points for result in used],
        [result.discount_minor for result in used],
        [result.customer_uses_max for result in used],
    )


def _bought(row: asyncpg.Record) -> Bought:
    return Bought(
        lines=msgspec.json.decode(row["bought_lines"], type=tuple[LineResult, ...]),
        rules=rules_record(
            row["program_id"],
            row["bought_version"],
            row["bought_rules"],
            row["bought_rules_at"],
            row["expiry_days"],
        ),
        created_at=row["bought_at"],
        returned=msgspec.json.decode(row["bought_returned"], type=dict[str, int]),
        promoter_reward=row["bought_promoter_reward"],
    )


def stored_answer(row: asyncpg.Record) -> tuple[bytes, StoredResponse] | None:
    """The answer stored under a key, with the fingerprint of its request; None for none."""
    if row["fingerprint"] is None:
        return None
    stored = StoredResponse(
        status_code=row["status_code"], media_type=row["media_type"], body=row["body"]
    )
    return row["fingerprint"], stored


class TurnQueries:
    # The asyncpg connection of the store this is mixed into, and its write_operation arguments.
    connection: "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

    async def _write_arguments(self, change: LedgerWrite) -> tuple[Any, ...]:
        raise NotImplementedError

    async def load_turn(
        self,
        key_id: UUID,
        key: str,
        account_id: UUID | None,
        hold_id: UUID | None,
        program_id: UUID | None,
        store_id: str | None,
        document_id: str | None,
        document_type: str | None,
        card_number: str | None,
        operation_id: UUID | None = None,
        priced: bool = False,
        ranked: bool = False,
        returns: bool = False,
        bonus: str | None = None,
        promo_codes: tuple[str, ...] = (),
    ) -> Snapshot:
        row = await self.connection.fetchrow(
            QUERIES["load_turn"],
            *(key_id, key, account_id, hold_id, program_id, store_id),
            *(document_id, document_type, card_number, operation_id),
            priced,
            _default_window_days,
            priced and ranked,
            returns,
            bonus,
            list(promo_codes),
        )
        if row is None:  # a select from one row of values always returns it
            raise RuntimeError("load_turn returned no row")
        found = row["id"] is not None
        held = row["hold_id"] is not None
        return Snapshot(
            answer=stored_answer(row),
            locked=locked_account(row, tuple(map(lot_of, row["lots"]))) if found else None,
            version=row["version"],
            hold=_hold(row) if held else None,
            hold_created_at=row["hold_created_at"],
            hold_operation_id=row["hold_operation_id"],
            open_hold=row["open_hold"],
            document_operation=row["document_operation"],
            card=None if row["card"] is None else (row["card"][0], row["card"][1]),
            original=None if row["original_id"] is None else _original(row),
            original_lots=tuple(map(lot_of, row["original_lots"] or ())),
            rules=rules_record(
                row["program_id"],
                row["rules_version"],
                row["rules"],
                row["rules_at"],
                row["expiry_days"],
            )
            if priced and found
            else None,
            standing=Standing(
                spend_minor=int(row["spend"]),
                tier_floor=row["tier_floor"],
                membership=member_of(row["membership"]),
            )
            if priced and ranked and found
            else None,
            referred_by=row["referred_by"],
            promoted_by=row["promoted_by"],
            bought=None if row["bought_lines"] is None else _bought(row),
            bonus_periods=frozenset(row["bonus_periods"] or ()),
            birthday=row["birthday"],
            promo_codes={
                code.code: code
                for code in msgspec.json.decode(row["promo_codes"] or "[]", type=list[PromoCode])
            },
        )

    async def lock_turn(self, account_id: UUID) -> None:
        await self.connection.execute(QUERIES["lock_turn"], account_id)

    async def apply_plan(self, plan: Plan) -> Applied:
        opened, answer, charge = plan.hold.opened, plan.answer, plan.charge
        try:
            row = await self.connection.fetchrow(
                QUERIES["apply_plan"],
                *await self._write_arguments(plan.change),
                plan.version,
                None if opened is None else opened.id,
                None if opened is None else opened.points,
                None if opened is None else opened.expires_at,
                [] if opened is None else [item.lot_id for item in opened.allocations],
                [] if opened is None else [item.points for item in opened.allocations],
                None
                if opened is None or opened.receipt is None
                else msgspec.json.encode(opened.receipt).decode(),
                plan.hold.status,
                plan.hold.spent,
                *answer_arguments(plan.key_id, plan.key, plan.fingerprint, answer),
                None if charge is None else charge.key_id,
                None if charge is None else charge.points,
                None if charge is None else charge.per_day_max,
                plan.refunded,
                plan.given_back,
                *_purchase_arguments(plan.purchase),
                [event.type for event in plan.events],
                [json.dumps(event.payload, default=str) for event in plan.events],
                *_returns_arguments(plan.returns),
                None if plan.grant is None else plan.grant.kind,
                None if plan.grant is None else plan.grant.period,
                *_promo_arguments(plan.purchase),
            )
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name in _taken:
                return Applied.stale
            raise
        except asyncpg.CheckViolationError as error:
            if error.constraint_name in _capped:
                return Applied.stale
            raise
        if row is None:  # a select of counts always returns its row
            raise RuntimeError("apply_plan returned no row")
        if row["applied"] and plan.hold.status is not None and not row["resolved"]:
            raise RuntimeError("a hold active at the account's version did not resolve")
        if row["applied"]:
            return Applied.applied
        return Applied.over_day_limit if row["unchanged"] else Applied.stale

    async def store_answer(
        self, key_id: UUID, key: str, fingerprint: bytes, response: StoredResponse
    ) -> bool:
        try:
            await self.connection.execute(
                QUERIES["insert_idempotency_key"],
                *answer_arguments(key_id, key, fingerprint, response),
            )
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name in _taken:
                return False
            raise
        return True
