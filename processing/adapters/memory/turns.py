"""Load → decide → apply in memory: the ``Turns`` port kept in dictionaries, with the same
answers and the same guards as ``processing.adapters.postgres.turns`` (the conformance tests in
``tests/conformance`` hold both to one set of assertions).

What Postgres guards, this guards the same way: the account's row version (a stale plan writes
nothing), the idempotency key's primary key, one effect per business document
(``operations_document``), one open hold per receipt (``holds_open_document``), a hold resolves
only while active, lots stay within ``0 <= held <= remaining <= points``, an account's reserved
points within its posted ones, and every operation's entries sum to zero. A plan is checked in
full before anything is written, so a refused plan leaves no trace, as a statement that fails
does. Time is an input: ``clock`` stands for ``clock_timestamp()``.

Nothing is shared between processes or survives one: it is for tests and simulations that run
the real use cases in microseconds per operation.
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec

from processing.core import limits
from processing.core.ledger import decide_accrue
from processing.core.model import (
    Account,
    Allocation,
    Hold,
    HoldStatus,
    Line,
    Lot,
    Operation,
    OperationType,
    Rejected,
    SystemAccount,
)
from processing.core.promo import Code as PromoCode
from processing.core.rules import Expiry, default_rules, expiry_in_force
from processing.service.ledger.decisions import posting_change
from processing.service.ports import (
    Applied,
    Bought,
    LedgerWrite,
    LockedAccount,
    NewOperation,
    Plan,
    PurchaseChange,
    Snapshot,
)
from processing.service.records import RulesRecord, Standing, StoredResponse

Clock = Callable[[], datetime]
# The kinds whose business document applies once (the partial unique index operations_document).
_documented = frozenset(
    {OperationType.accrual, OperationType.purchase, OperationType.adjustment, OperationType.refund}
)


class ConstraintViolation(Exception):
    """A plan broke a rule the database enforces with a check, a trigger or a key it does not
    treat as a lost race: a bug in the decision, never an expected outcome. Nothing was
    written."""


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Program:
    id: UUID
    hold_ttl_seconds_default: int = limits.hold_ttl_seconds_default
    hold_ttl_seconds_max: int = limits.hold_ttl_seconds_max_default
    expiry_days: int | None = None
    rules_expiry: Expiry | None = None
    key_points_per_call_max: int = limits.key_points_per_call_max_default
    key_points_per_day_max: int = limits.key_points_per_day_max_default
    system_accounts: dict[SystemAccount, UUID] = field(default_factory=dict)


@dataclass
class AccountRow:
    id: UUID
    program_id: UUID
    kind: str  # "customer" or a SystemAccount
    posted: int = 0
    reserved: int = 0
    debt: int = 0
    blocked: bool = False
    version: int = 1


@dataclass
class LotRow:
    id: UUID
    account_id: UUID
    operation_id: UUID
    points: int
    remaining: int
    held: int
    activates_at: datetime
    expires_at: datetime | None

    def lot(self) -> Lot:
        return Lot(
            id=self.id,
            points=self.points,
            remaining=self.remaining,
            held=self.held,
            activates_at=self.activates_at,
            expires_at=self.expires_at,
        )


@dataclass
class HoldRow:
    id: UUID
    program_id: UUID
    account_id: UUID
    operation_id: UUID
    points: int
    status: HoldStatus
    expires_at: datetime
    store_id: str | None
    document_id: str
    created_at: datetime
    allocations: tuple[Allocation, ...]
    receipt: tuple[Line, ...] | None = None
    committed_points: int | None = None
    resolved_at: datetime | None = None
    resolved_by: UUID | None = None

    def hold(self) -> Hold:
        return Hold(
            id=self.id,
            account_id=self.account_id,
            points=self.points,
            status=self.status,
            expires_at=self.expires_at,
            allocations=self.allocations,
            document_id=self.document_id,
            receipt=self.receipt,
        )


class Entry(msgspec.Struct, frozen=True):
    operation_id: UUID
    account_id: UUID
    lot_id: UUID | None
    points: int


class OutboxEvent(msgspec.Struct, frozen=True):
    operation_id: UUID
    type: str
    payload: dict[str, Any]


class MemoryTurns:
    """The ``Turns`` port over one in-memory ledger. ``clock`` is the database's clock."""

    def __init__(self, clock: Clock = wall_clock) -> None:
        self.clock = clock
        self.programs: dict[UUID, Program] = {}
        self.accounts: dict[UUID, AccountRow] = {}
        self.lots: dict[UUID, LotRow] = {}
        self.open_lots: dict[UUID, dict[UUID, LotRow]] = {}  # by account, in creation order
        self.holds: dict[UUID, HoldRow] = {}
        self.active_documents: dict[tuple[UUID, str, str], UUID] = {}  # → the open hold
        self.documents: dict[tuple[UUID, str, str, str], UUID] = {}  # → the operation
        self.operations: dict[UUID, NewOperation] = {}
        self.entries: list[Entry] = []
        self.entries_by_operation: dict[UUID, list[Entry]] = {}
        self.outbox: list[OutboxEvent] = []
        self.purchases: dict[UUID, PurchaseChange] = {}  # by operation
        self.returned: dict[UUID, dict[str, int]] = {}  # a purchase's lines returned, by line
        self.given_back: dict[UUID, int] = {}  # an operation's returned_points
        # Bonuses granted: the periods, by account and kind.
        self.grants: dict[tuple[UUID, str], set[str]] = {}
        self.answers: dict[tuple[UUID, str], tuple[bytes, StoredResponse]] = {}
        self.cards: dict[tuple[UUID, str], tuple[UUID, str]] = {}  # → customer, status
        self.key_points: dict[tuple[UUID, date], int] = {}  # a key's points per UTC day
        self.refunded: dict[UUID, int] = {}  # an operation's refunded_points
        # Promo codes by program and code, and their counters: the code's, the campaign's, and
        # a customer's uses of a campaign (decision 0032).
        self.promo_codes: dict[tuple[UUID, str], PromoCode] = {}
        self.promo_code_used: dict[UUID, int] = {}
        self.promo_campaign_used: dict[UUID, int] = {}
        self.promo_customer_used: dict[tuple[UUID, UUID], int] = {}
        self._versions = itertools.count(2)

    # Setting up: what the admin API and enrolment would have written.

    def add_program(self, **settings: Any) -> UUID:
        program = Program(id=uuid4(), **settings)
        for kind in SystemAccount:
            if kind is SystemAccount.charity:  # one per charity, not one per program
                continue
            system = AccountRow(id=uuid4(), program_id=program.id, kind=kind)
            self.accounts[system.id] = system
            program.system_accounts[kind] = system.id
        self.programs[program.id] = program
        return program.id

    def add_promo_code(self, program_id: UUID, code: PromoCode) -> None:
        """A code of a campaign, as the admin API would have made it (its counters at 0)."""
        self.promo_codes[program_id, code.code] = code

    def add_account(self, program_id: UUID, blocked: bool = False) -> UUID:
        account = AccountRow(id=uuid4(), program_id=program_id, kind="customer", blocked=blocked)
        self.accounts[account.id] = account
        self.open_lots[account.id] = {}
        return account.id

    def fund(
        self,
        account_id: UUID,
        points: int,
        activates_at: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> NewOperation:
        """Accrues ``points`` as the system would (a lot, its two entries against the issued
        account, the account's balance and version, the outbox event), decided by the core."""
        locked = self._locked(self.accounts[account_id])
        decision = decide_accrue(
            locked.account, points, activates_at, expires_at, locked.expiry, locked.now
        )
        if isinstance(decision, Rejected):
            raise ValueError(decision.detail)
        operation, change = posting_change(locked, None, OperationType.accrual, decision)
        self._write(change, self._check(change))
        return operation

    # The port. Its callers come one at a time (the simulation drives requests in sequence),
    # so a key is never in flight twice and a row lock has nothing to wait for; a plan that
    # writes nothing writes nothing at all, so a transaction has nothing to roll back.

    async def claim_key(self, key_id: UUID, key: str) -> bool:
        return True

    async def lock_turn(self, account_id: UUID) -> None:
        return None

    async def load_turn(
        self,
        key_id: UUID,
        key: str,
        account_id: UUID | None,
        hold_id: UUID | None,
        program_id: UUID | None,
        store_id: str | None,
        document_id: str | None,
        document_type: str | None = None,
        card_number: str | None = None,
        operation_id: UUID | None = None,
        priced: bool = False,
        ranked: bool = False,
        returns: bool = False,
        bonus: str | None = None,
        promo_codes: tuple[str, ...] = (),
    ) -> Snapshot:
        hold = self.holds.get(hold_id) if hold_id is not None else None
        if hold is not None and (
            (program_id is not None and hold.program_id != program_id)
            or (store_id is not None and hold.store_id != store_id)
        ):
            hold = None
        original = self._original(operation_id, program_id, store_id)
        owner = hold.account_id if hold else (original.account_id if original else None)
        wanted = account_id if account_id is not None else owner
        account = self.accounts.get(wanted) if wanted is not None else None
        if account is not None and (
            account.kind != "customer"
            or (program_id is not None and account.program_id != program_id)
        ):
            account = None
        open_hold = document_operation = card = None
        if account is not None and document_id is not None:
            open_hold = self.active_documents.get((account.program_id, store_id or "", document_id))
            if document_type is not None:
                place = (account.program_id, store_id or "", document_type, document_id)
                document_operation = self.documents.get(place)
        if account is not None and card_number is not None:
            card = self.cards.get((account.program_id, card_number))
        return Snapshot(
            answer=self.answers.get((key_id, key)),
            locked=None if account is None else self._locked(account),
            version=None if account is None else account.version,
            hold=None if hold is None else hold.hold(),
            hold_created_at=None if hold is None else hold.created_at,
            hold_operation_id=None if hold is None else hold.operation_id,
            open_hold=open_hold,
            document_operation=document_operation,
            card=card,
            original=original,
            original_lots=tuple(
                self.lots[movement.lot_id].lot() for movement in original.lot_movements
            )
            if original
            else (),
            rules=None if account is None or not priced else self._defaults(account.program_id),
            standing=None if account is None or not (priced and ranked) else _no_spend,
            bought=self._bought(original) if returns and original is not None else None,
            # No customers here: no birthday on file.
            bonus_periods=frozenset(
                () if account is None or bonus is None else self.grants.get((account.id, bonus), ())
            ),
            promo_codes={} if account is None else self._promo_codes(account, promo_codes),
        )

    def _promo_codes(self, account: AccountRow, codes: tuple[str, ...]) -> dict[str, PromoCode]:
        """The program's stored codes among ``codes``, with their counters as they are now."""
        found: dict[str, PromoCode] = {}
        for text in codes:
            code = self.promo_codes.get((account.program_id, text))
            if code is None:
                continue
            campaign = msgspec.structs.replace(
                code.campaign, used=self.promo_campaign_used.get(code.campaign.id, 0)
            )
            found[text] = msgspec.structs.replace(
                code,
                campaign=campaign,
                used=self.promo_code_used.get(code.id, 0),
                customer_used=self.promo_customer_used.get((campaign.id, account.id), 0),
            )
        return found

    def _past_a_cap(self, plan: Plan) -> bool:
        """Whether counting the plan's promo code uses would pass a cap (Postgres's CHECKs)."""
        account_id = plan.change.operation.account_id
        for result in () if plan.purchase is None else plan.purchase.promos:
            if result.code_id is None or result.campaign_id is None:
                continue
            code = next(c for c in self.promo_codes.values() if c.id == result.code_id)
            caps = (
                (self.promo_code_used.get(code.id, 0), code.uses_max),
                (self.promo_campaign_used.get(code.campaign.id, 0), code.campaign.uses_max),
                (
                    self.promo_customer_used.get((code.campaign.id, account_id), 0),
                    result.customer_uses_max,
                ),
            )
            if any(cap is not None and used + 1 > cap for used, cap in caps):
                return True
        return False

    async def apply_plan(self, plan: Plan) -> Applied:
        change = plan.change
        operation = change.operation
        account = self.accounts.get(operation.account_id)
        if account is None or account.version != plan.version:
            return Applied.stale
        counted = self._counted(plan)
        if counted is not None and plan.charge is not None and counted[1] > plan.charge.per_day_max:
            return Applied.over_day_limit
        if (plan.key_id, plan.key) in self.answers or self._taken(plan) or self._past_a_cap(plan):
            return Applied.stale
        entries = self._check(change)
        opened = plan.hold.opened
        if opened is not None:
            self._check_hold(opened)
        resolving = self._resolving(plan)
        self.refunded.update(self._refunded(plan))
        self._write(change, entries)
        self._record(plan)
        if counted is not None:
            self.key_points[counted[0]] = counted[1]
        if opened is not None:
            self._open_hold(opened, operation)
        if resolving is not None and plan.hold.status is not None:
            self._resolve(resolving, plan.hold.status, plan.hold.spent, operation)
        self.answers[plan.key_id, plan.key] = (plan.fingerprint, _kept(plan.answer))
        if plan.hold.status is not None and resolving is None:
            raise RuntimeError("a hold active at the account's version did not resolve")
        return Applied.applied

    def _record(self, plan: Plan) -> None:
        """What a plan writes beside its operation: the events it tells, the purchase's receipt."""
        operation_id = plan.change.operation.id
        for event in plan.events:
            self.outbox.append(OutboxEvent(operation_id, event.type, event.payload))
        if plan.purchase is not None:
            self.purchases[operation_id] = plan.purchase
            account_id = plan.change.operation.account_id
            for result in plan.purchase.promos:
                if result.code_id is None or result.campaign_id is None:
                    continue
                code_used, campaign_used = self.promo_code_used, self.promo_campaign_used
                customer_used = self.promo_customer_used
                code_used[result.code_id] = code_used.get(result.code_id, 0) + 1
                campaign_used[result.campaign_id] = campaign_used.get(result.campaign_id, 0) + 1
                mine = (result.campaign_id, account_id)
                customer_used[mine] = customer_used.get(mine, 0) + 1
        if plan.grant is not None:
            account_id = plan.change.operation.account_id
            self.grants.setdefault((account_id, plan.grant.kind), set()).add(plan.grant.period)
        refund_of = plan.change.operation.refund_of
        if refund_of is not None and plan.given_back:
            self.given_back[refund_of] = self.given_back.get(refund_of, 0) + plan.given_back
        if refund_of is not None and plan.returns is not None:
            returned = self.returned.setdefault(refund_of, {})
            for line in plan.returns.lines:
                returned[line.line_id] = returned.get(line.line_id, 0) + line.quantity

    async def store_answer(
        self, key_id: UUID, key: str, fingerprint: bytes, response: StoredResponse
    ) -> bool:
        if (key_id, key) in self.answers:
            return False
        self.answers[key_id, key] = (fingerprint, _kept(response))
        return True

    # Reading the ledger back (what the invariant checks and the tests look at).

    def account(self, account_id: UUID) -> Account:
        row = self.accounts[account_id]
        return Account(
            id=row.id,
            posted=row.posted,
            reserved=row.reserved,
            debt=row.debt,
            blocked=row.blocked,
            lots=tuple(lot.lot() for lot in self.open_lots.get(account_id, {}).values()),
        )

    def customer_lots(self, account_id: UUID) -> list[LotRow]:
        return [lot for lot in self.lots.values() if lot.account_id == account_id]

    # Inside.

    def _defaults(self, program_id: UUID) -> RulesRecord:
        """This ledger keeps no rules versions and no purchases: a priced write sees its
        program's defaults (version 0) and a customer with no spend."""
        program = self.programs[program_id]
        return RulesRecord(
            program_id=program_id,
            version=0,
            rules=default_rules(program.expiry_days),
            created_at=None,
        )

    def _locked(self, account: AccountRow) -> LockedAccount:
        program = self.programs[account.program_id]
        return LockedAccount(
            account=self.account(account.id),
            program_id=program.id,
            hold_ttl_seconds_default=program.hold_ttl_seconds_default,
            hold_ttl_seconds_max=program.hold_ttl_seconds_max,
            expiry=expiry_in_force(program.rules_expiry, program.expiry_days),
            key_points_per_call_max=program.key_points_per_call_max,
            key_points_per_day_max=program.key_points_per_day_max,
            now=self.clock(),
        )

    def _original(
        self, operation_id: UUID | None, program_id: UUID | None, store_id: str | None
    ) -> Operation | None:
        """The operation a refund names, as the store reads it for one: what it moved."""
        found = self.operations.get(operation_id) if operation_id is not None else None
        if found is None or (program_id is not None and found.program_id != program_id):
            return None
        if store_id is not None and found.store_id != store_id:
            return None
        movements = tuple(
            Allocation(lot_id=entry.lot_id, points=entry.points)
            for entry in self.entries_by_operation.get(found.id, ())
            if entry.account_id == found.account_id and entry.lot_id is not None
        )
        return Operation(
            id=found.id,
            account_id=found.account_id,
            type=OperationType(found.type),
            points=found.points,
            refunded_points=self.refunded.get(found.id, 0),
            lot_movements=movements,
            redeemed_points=found.redeemed_points,
            returned_points=found.returned_points + self.given_back.get(found.id, 0),
        )

    def _bought(self, original: Operation) -> Bought | None:
        """The purchase a return names, priced under its program's defaults (as ``_defaults``)."""
        purchase = self.purchases.get(original.id)
        if purchase is None:
            return None
        made = self.operations[original.id]
        return Bought(
            lines=purchase.priced.lines,
            rules=self._defaults(made.program_id),
            created_at=made.created_at,
            returned=dict(self.returned.get(original.id, {})),
        )

    def _refunded(self, plan: Plan) -> dict[UUID, int]:
        """The refunded operation's new refunded_points, checked as its CHECK does (I6)."""
        refund_of, refunded = plan.change.operation.refund_of, plan.refunded
        if refund_of is None or refunded is None:
            return {}
        total = self.refunded.get(refund_of, 0) + refunded
        if not 0 <= total <= abs(self.operations[refund_of].points):
            raise ConstraintViolation(f"operation {refund_of} refunded past its points")
        return {refund_of: total}

    def _resolving(self, plan: Plan) -> HoldRow | None:
        """The active hold the plan resolves, checked: None when it is no longer active."""
        hold_id = plan.change.operation.hold_id
        if plan.hold.status is None or hold_id is None:
            return None
        resolving = self.holds.get(hold_id)
        if resolving is None or resolving.status is not HoldStatus.active:
            return None
        _check_resolution(resolving, plan.hold.status, plan.hold.spent)
        return resolving

    def _counted(self, plan: Plan) -> tuple[tuple[UUID, date], int] | None:
        """The key's day and its points with this plan's, when the plan counts them."""
        if plan.charge is None:
            return None
        day = (plan.charge.key_id, plan.change.operation.created_at.astimezone(UTC).date())
        return day, self.key_points.get(day, 0) + plan.charge.points

    def _taken(self, plan: Plan) -> bool:
        """A lost race on a unique index: the document already took effect, or has an open
        hold, or the bonus was granted in its period."""
        operation = plan.change.operation
        claimed = plan.grant
        if claimed is not None and claimed.period in self.grants.get(
            (operation.account_id, claimed.kind), ()
        ):
            return True
        document = operation.document
        if document is not None and operation.type in _documented:
            key = (operation.program_id, operation.store_id or "", operation.type, document.id)
            if key in self.documents:
                return True
        opened = plan.hold.opened
        if opened is not None and opened.document_id is not None:
            place = (operation.program_id, operation.store_id or "", opened.document_id)
            if place in self.active_documents:
                return True
        return False

    def _check(self, change: LedgerWrite) -> list[Entry]:
        """What the checks and the zero-sum trigger refuse, before anything is written; returns
        the entries the change writes."""
        operation, after = change.operation, change.after
        account = self.accounts.get(operation.account_id)
        if account is None or account.kind != "customer":
            raise ConstraintViolation(f"no customer account {operation.account_id}")
        if operation.id in self.operations:
            raise ConstraintViolation(f"operation {operation.id} exists")
        if not 0 <= after.reserved <= after.posted:
            raise ConstraintViolation("reserved points must lie between 0 and posted ones")
        if operation.available_after < 0:
            raise ConstraintViolation("available_after must not be negative")
        for lot in after.lots:
            if not 0 <= lot.held <= lot.remaining <= lot.points:
                raise ConstraintViolation(f"lot {lot.id} out of bounds: {lot}")
            known = self.lots.get(lot.id)
            if known is not None and known.account_id != account.id:
                raise ConstraintViolation(f"lot {lot.id} belongs to another account")
        entries = self._entries(change)
        if sum(entry.points for entry in entries) != 0:
            raise ConstraintViolation(f"operation {operation.id} does not sum to zero")
        return entries

    def _check_hold(self, hold: Hold) -> None:
        if hold.id in self.holds or hold.points <= 0:
            raise ConstraintViolation(f"hold {hold.id} exists or holds nothing")
        for allocation in hold.allocations:
            if allocation.points <= 0 or allocation.lot_id not in self.lots:
                raise ConstraintViolation(f"hold {hold.id} earmarks {allocation}")

    def _write(self, change: LedgerWrite, entries: list[Entry]) -> None:
        operation, after = change.operation, change.after
        account = self.accounts[operation.account_id]
        account.posted, account.reserved, account.debt = after.posted, after.reserved, after.debt
        account.version = next(self._versions)
        self.operations[operation.id] = operation
        document = operation.document
        if document is not None and operation.type in _documented:
            place = (operation.program_id, operation.store_id or "", operation.type, document.id)
            self.documents[place] = operation.id
        before = {lot.id: lot for lot in change.before.lots}
        new_lot = next((p.new_lot for p in change.postings if p.new_lot is not None), None)
        open_lots = self.open_lots[account.id]
        for lot in after.lots:
            # One lookup per lot: ids hash in Python, and an account has several open lots.
            previous = before.get(lot.id)
            if previous is None and new_lot is not None and lot.id == change.new_lot_id:
                row = LotRow(
                    id=lot.id,
                    account_id=account.id,
                    operation_id=operation.id,
                    points=new_lot.points,
                    remaining=lot.remaining,
                    held=0,
                    activates_at=new_lot.activates_at,
                    expires_at=new_lot.expires_at,
                )
                self.lots[row.id] = row
            elif previous is not None and (
                previous.remaining != lot.remaining or previous.held != lot.held
            ):
                row = self.lots[lot.id]
                row.remaining, row.held = lot.remaining, lot.held
            else:
                continue
            if row.remaining > 0:
                open_lots[row.id] = row
            else:
                open_lots.pop(row.id, None)
        self.entries.extend(entries)
        if entries:
            self.entries_by_operation[operation.id] = entries
        for event_type in change.event_types:
            self.outbox.append(OutboxEvent(operation.id, event_type, change.event))

    def _entries(self, change: LedgerWrite) -> list[Entry]:
        """As the Postgres store writes them: each leg's lot deltas (and new lot) against its
        counter account."""
        operation = change.operation
        system = self.programs[operation.program_id].system_accounts
        entries = []
        for posting in change.postings:
            if not posting.lot_deltas and posting.new_lot is None:
                continue
            for delta in posting.lot_deltas:
                entries.append(
                    Entry(operation.id, operation.account_id, delta.lot_id, delta.points)
                )
            if posting.new_lot is not None:
                entries.append(
                    Entry(
                        operation.id,
                        operation.account_id,
                        change.new_lot_id,
                        posting.new_lot.points,
                    )
                )
            counter = posting.counter_account_id or system[posting.counter_account]
            entries.append(Entry(operation.id, counter, None, -posting.customer_delta))
        return entries

    def _open_hold(self, hold: Hold, operation: NewOperation) -> None:
        document_id = operation.document.id if operation.document else hold.document_id
        if document_id is None:
            raise ConstraintViolation("a hold names its document")
        self.holds[hold.id] = HoldRow(
            id=hold.id,
            program_id=operation.program_id,
            account_id=operation.account_id,
            operation_id=operation.id,
            points=hold.points,
            status=HoldStatus.active,
            expires_at=hold.expires_at,
            store_id=operation.store_id,
            document_id=document_id,
            created_at=operation.created_at,
            allocations=hold.allocations,
            receipt=hold.receipt,
        )
        place = (operation.program_id, operation.store_id or "", document_id)
        self.active_documents[place] = hold.id

    def _resolve(
        self, hold: HoldRow, status: HoldStatus, spent: int | None, operation: NewOperation
    ) -> None:
        hold.status, hold.committed_points = status, spent
        hold.resolved_at, hold.resolved_by = operation.created_at, operation.id
        place = (hold.program_id, hold.store_id or "", hold.document_id)
        if self.active_documents.get(place) == hold.id:
            del self.active_documents[place]


_no_spend = Standing(spend_minor=0, tier_floor=None)


def _check_resolution(hold: HoldRow, status: HoldStatus, spent: int | None) -> None:
    if (status is HoldStatus.committed) != (spent is not None):
        raise ConstraintViolation("a committed hold, and only one, says what it spent")
    if spent is not None and not 1 <= spent <= hold.points:
        raise ConstraintViolation(f"a hold of {hold.points} cannot spend {spent}")


def _kept(response: StoredResponse) -> StoredResponse:
    """What the idempotency record keeps: the bytes, without a secret shown once."""
    body = response.body if response.kept_body is None else response.kept_body
    return StoredResponse(
        status_code=response.status_code, media_type=response.media_type, body=body
    )
