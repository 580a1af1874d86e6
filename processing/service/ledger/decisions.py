"""What a ledger write decides on its snapshot: the commands, and the pure functions that turn
a snapshot into a plan (``Decided``: the operation with everything it changes, the hold it
opens or resolves, the points its key creates, the answer) or a refusal.

Nothing here reads or writes: ``MutationRunner.in_turn`` loads the snapshot, calls the
decision and applies the plan, in two round trips without a transaction, or in one transaction
under the account's row lock when the account keeps changing in between. Both paths run the
same decision, so they cannot answer differently.
"""

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec

from processing.core.balances import apply_holds, apply_postings, available_points
from processing.core.checkout import calculate
from processing.core.events import operation_events
from processing.core.holds import HoldPolicy, decide_cancel, decide_commit, decide_reserve
from processing.core.ledger import (
    decide_accrue,
    decide_adjust,
    decide_key_points,
    decide_refund,
)
from processing.core.model import (
    Account,
    Allocation,
    Hold,
    HoldStatus,
    Line,
    Lot,
    Operation,
    OperationType,
    Posting,
    Rejected,
    SystemAccount,
)
from processing.core.rejections import Rejection
from processing.service.mutations import Decided
from processing.service.ports import (
    HoldChange,
    KeyCharge,
    LedgerWrite,
    LockedAccount,
    NewOperation,
    Snapshot,
)
from processing.service.records import (
    Accepted,
    Actor,
    Document,
    HoldRecord,
    OperationRecord,
    Outcome,
    RefundRecord,
    Refused,
    refuse,
)
from processing.service.rules import check_receipt

# How a posting moved points, by its counter account and whether the customer gained: the
# label of bonus_points_total, so a dashboard can show points issued, redeemed and expired.
_movement = {
    (SystemAccount.issued, True): "issued",
    (SystemAccount.issued, False): "clawed_back",
    (SystemAccount.redeemed, False): "redeemed",
    (SystemAccount.redeemed, True): "returned",
    (SystemAccount.expired, False): "expired",
    (SystemAccount.adjustments, True): "adjusted_in",
    (SystemAccount.adjustments, False): "adjusted_out",
    (SystemAccount.charity, False): "donated",
}


class AccrualCommand(msgspec.Struct, frozen=True, kw_only=True):
    points: int
    document: Document
    activates_at: datetime | None = None
    expires_at: datetime | None = None
    card_number: str | None = None


class AdjustmentCommand(msgspec.Struct, frozen=True, kw_only=True):
    points: int
    reason: str
    document: Document | None = None


class ReserveCommand(msgspec.Struct, frozen=True, kw_only=True):
    points: int
    document: Document
    ttl_seconds: int | None = None
    card_number: str | None = None
    lines: tuple[Line, ...] | None = None  # the receipt the points will pay for


class RefundCommand(msgspec.Struct, frozen=True, kw_only=True):
    document: Document
    points: int | None = None


# The channels whose keys are bounded in the points they create: a till's and a web shop's. An
# operator's adjustments, a CRM's cashback and the program's own bonuses are not.
bounded_channels = frozenset({"pos", "shop"})


def refused_by(decision: Rejected) -> Refused:
    return refuse(decision.rejection, decision.detail, field=decision.field)


def per_call_refusal(locked: LockedAccount, points: int) -> Refused | None:
    decision = decide_key_points(points, locked.key_points_per_call_max)
    if decision is None:
        return None
    return refuse(
        decision.rejection, decision.detail, field=decision.field, limit="key_points_per_call_max"
    )


def per_day_refusal(points: int, per_day: int) -> Refused:
    return refuse(
        Rejection.points_limit_exceeded,
        f"{points} more points would pass what a till or shop key may create in a day: "
        f"{per_day} (the program's key_points_per_day_max, counted per UTC day).",
        field="points",
        limit="key_points_per_day_max",
    )


def counted(
    decided: Decided, locked: LockedAccount, actor: Actor, points: int
) -> Decided | Refused:
    """A plan with the points its key creates counted as it applies (per UTC day, in
    ``key_points_daily``, by ``apply_plan``): refused at once past the bound per call, or when
    applied past the day's."""
    if points <= 0 or actor.channel not in bounded_channels:
        return decided
    refused = per_call_refusal(locked, points)
    if refused is not None:
        return refused
    per_day = locked.key_points_per_day_max
    return msgspec.structs.replace(
        decided,
        charge=KeyCharge(key_id=actor.key_id, points=points, per_day_max=per_day),
        over_day_limit=per_day_refusal(points, per_day),
    )


def operation_record(operation: NewOperation, status: str) -> OperationRecord:
    return OperationRecord(
        id=operation.id,
        customer_id=operation.account_id,
        type=operation.type,
        points=operation.points,
        refunded_points=0,
        status=status,
        document=operation.document,
        reason=operation.reason,
        channel=operation.channel,
        key_id=operation.key_id,
        store_id=operation.store_id,
        hold_id=operation.hold_id,
        refund_of=operation.refund_of,
        available_after=operation.available_after,
        created_at=operation.created_at,
        rules_version=operation.rules_version,
        redeemed_points=operation.redeemed_points,
        returned_points=operation.returned_points,
    )


def new_operation(
    locked: LockedAccount,
    actor: Actor | None,
    type_: OperationType,
    points: int,
    after: Account,
    **fields: Any,
) -> NewOperation:
    return NewOperation(
        id=uuid4(),
        program_id=locked.program_id,
        account_id=locked.account.id,
        type=type_,
        points=points,
        available_after=available_points(after, locked.now),
        created_at=locked.now,
        channel=actor.channel if actor else "system",
        key_id=actor.key_id if actor else None,
        store_id=actor.store_id if actor else None,
        **fields,
    )


def ledger_write(
    operation: NewOperation,
    before: Account,
    after: Account,
    postings: tuple[Posting, ...] = (),
    new_lot_id: UUID | None = None,
) -> LedgerWrite:
    """An operation with what it changed and the outbox events it tells (I7)."""
    types = operation_events(
        OperationType(operation.type),
        operation.points,
        operation.redeemed_points,
        operation.returned_points,
        operation.debt_delta,
        releases_hold=operation.type == OperationType.expire and operation.hold_id is not None,
    )
    return LedgerWrite(
        operation=operation,
        before=before,
        after=after,
        postings=postings,
        new_lot_id=uuid4() if new_lot_id is None else new_lot_id,
        event=event_of(operation),
        event_types=tuple(types),
    )


def event_of(operation: NewOperation) -> dict[str, Any]:
    return {
        "operation_id": str(operation.id),
        "type": operation.type,
        "customer_id": str(operation.account_id),
        "points": operation.points,
        "redeemed_points": operation.redeemed_points,
        "returned_points": operation.returned_points,
        "available_after": operation.available_after,
        "document_id": operation.document.id if operation.document else None,
        "created_at": operation.created_at.isoformat(),
    }


def posting_change(
    locked: LockedAccount,
    actor: Actor | None,
    type_: OperationType,
    *postings: Posting,
    stored: Account | None = None,
    released: tuple[Allocation, ...] = (),
    new_lot_id: UUID | None = None,
    **fields: Any,
) -> tuple[NewOperation, LedgerWrite]:
    """Releases a hold's earmarks if asked and applies the operation's postings in memory (the
    invariants are checked there): the operation and everything it changes."""
    before = locked.account if stored is None else stored
    lot_id = uuid4() if new_lot_id is None else new_lot_id
    after = apply_postings(apply_holds(before, released, -1), postings, lot_id)
    operation = new_operation(
        locked,
        actor,
        type_,
        sum(posting.customer_delta for posting in postings),
        after,
        debt_delta=sum(posting.debt_delta for posting in postings),
        **fields,
    )
    return operation, ledger_write(operation, before, after, postings, lot_id)


def movements(*postings: Posting) -> Accepted:
    """An outcome's points movements for ``bonus_points_total``, one per leg that moved any."""
    moved = [
        (
            _movement[posting.counter_account, posting.customer_delta > 0],
            abs(posting.customer_delta),
        )
        for posting in postings
        if posting.customer_delta
    ]
    first = moved[0] if moved else (None, 0)
    return Accepted(value=None, movement=first[0], points=first[1], more_movements=tuple(moved[1:]))


def posted(operation: NewOperation, *postings: Posting, created: bool = True) -> Accepted:
    return msgspec.structs.replace(
        movements(*postings), value=operation_record(operation, "completed"), created=created
    )


def hold_record(
    hold: Hold, created_at: datetime, reserved_by: UUID, resolved_at: datetime | None = None
) -> HoldRecord:
    """A hold as a read shows it: made at ``created_at`` by operation ``reserved_by``."""
    return HoldRecord(
        id=hold.id,
        customer_id=hold.account_id,
        points=hold.points,
        committed_points=None,
        status=hold.status,
        expires_at=hold.expires_at,
        created_at=created_at,
        resolved_at=resolved_at,
        document_id=hold.document_id or "",
        operation_id=reserved_by,
        has_receipt=hold.receipt is not None,
    )


def card_refusal(locked: LockedAccount, card: tuple[UUID, str] | None) -> Refused | None:
    """The refusal for a named card that is not this customer's (``card`` None: no such card)
    or not active."""
    if card is None or card[0] != locked.account.id:
        return refuse(
            Rejection.card_not_found, "No such card for this customer.", field="card_number"
        )
    if card[1] != "active":
        return refuse(Rejection.card_blocked, f"The card is {card[1]}.")
    return None


def document_refusal(
    type_: OperationType, document: Document | None, existing: UUID | None
) -> Refused | None:
    if document is None or existing is None:
        return None
    return refuse(
        Rejection.duplicate_document,
        f"Document {document.id} already produced a {type_} operation.",
        operation_id=str(existing),
    )


def open_hold_refusal(document: Document, existing: UUID) -> Refused:
    return refuse(
        Rejection.duplicate_document,
        f"Document {document.id} already has an open hold.",
        hold_id=str(existing),
    )


def release_change(
    locked: LockedAccount,
    actor: Actor | None,
    hold: Hold,
    released: tuple[Allocation, ...],
    status: HoldStatus,
) -> tuple[NewOperation, LedgerWrite]:
    after = apply_holds(locked.account, released, -1)
    type_ = OperationType.cancel if status is HoldStatus.cancelled else OperationType.expire
    operation = new_operation(locked, actor, type_, hold.points, after, hold_id=hold.id)
    return operation, ledger_write(operation, locked.account, after)


def reserve_change(
    locked: LockedAccount,
    actor: Actor,
    command: ReserveCommand,
    cap: int | None = None,
    version: int | None = None,
) -> Decided | Refused:
    """A reserve decided: the hold it opens with its operation, or why not. ``cap`` the most
    points the receipt lets pay, ``version`` the rules that said so."""
    policy = HoldPolicy(locked.hold_ttl_seconds_default, locked.hold_ttl_seconds_max)
    plan = decide_reserve(
        locked.account, command.points, command.ttl_seconds, policy, locked.now, cap
    )
    if isinstance(plan, Rejected):
        return refused_by(plan)
    after = apply_holds(locked.account, plan.allocations, +1)
    hold = Hold(
        id=uuid4(),
        account_id=locked.account.id,
        points=command.points,
        status=HoldStatus.active,
        expires_at=plan.expires_at,
        allocations=plan.allocations,
        document_id=command.document.id,
        receipt=command.lines,
    )
    operation = new_operation(
        locked,
        actor,
        OperationType.reserve,
        command.points,
        after,
        document=command.document,
        hold_id=hold.id,
        rules_version=version,
    )
    return Decided(
        change=ledger_write(operation, locked.account, after),
        hold=HoldChange(opened=hold),
        outcome=Accepted(value=hold_record(hold, operation.created_at, operation.id), created=True),
    )


def reserve_in_turn(snapshot: Snapshot, actor: Actor, command: ReserveCommand) -> Outcome | Decided:
    """A reserve on its snapshot. One that brings a receipt (loaded ``priced``) is capped by
    what the rules in force let points pay for it, its document is
    checked against purchases (the receipt will become one), and the hold keeps the receipt and
    the rules' version."""
    locked = snapshot.locked
    if locked is None:
        return refuse(Rejection.not_found, "No customer with this id.")
    if command.card_number is not None:
        refused = card_refusal(locked, snapshot.card)
        if refused is not None:
            return refused
    if snapshot.open_hold is not None:
        return open_hold_refusal(command.document, snapshot.open_hold)
    lines = command.lines
    if lines is None:
        return reserve_change(locked, actor, command)
    refused = check_receipt(lines) or document_refusal(
        OperationType.purchase, command.document, snapshot.document_operation
    )
    if refused is not None:
        return refused
    record = snapshot.rules
    if record is None:
        raise AssertionError("a reserve with a receipt is loaded priced")
    # The cap does not depend on the tier (a tier sets the earning rate only): no standing.
    priced = calculate(record.rules, None, lines, command.points, command.points)
    return reserve_change(locked, actor, command, priced.max_redeemable_points, record.version)


def commit_in_turn(
    snapshot: Snapshot, actor: Actor, points: int | None
) -> Decided | Outcome | None:
    """A commit with no receipt on its snapshot. A hold reserved with one becomes a purchase
    (``commit_with_receipt_in_turn``, which calls this one for the rest): None for it here."""
    locked, hold = snapshot.locked, snapshot.hold
    if locked is None or hold is None:
        return refuse(Rejection.hold_not_found, "No hold with this id.")
    if hold.receipt is not None:
        return None
    plan = decide_commit(locked.account, hold, points, locked.now)
    if isinstance(plan, Rejected):
        return refused_by(plan)
    operation, change = posting_change(
        locked,
        actor,
        OperationType.commit,
        plan.posting,
        released=plan.released,
        hold_id=hold.id,
    )
    spent = -plan.posting.customer_delta
    return Decided(
        change=change,
        hold=HoldChange(status=HoldStatus.committed, spent=spent),
        outcome=posted(operation, plan.posting, created=False),
    )


def cancel_in_turn(snapshot: Snapshot, actor: Actor) -> Decided | Outcome | None:
    """A cancel on its snapshot; its answer is the hold as a read after it shows it."""
    locked, hold = snapshot.locked, snapshot.hold
    if locked is None or hold is None:
        return refuse(Rejection.hold_not_found, "No hold with this id.")
    plan = decide_cancel(hold, locked.now)
    if isinstance(plan, Rejected):
        return refused_by(plan)
    operation, change = release_change(locked, actor, hold, plan.released, HoldStatus.cancelled)
    created_at, reserved_by = snapshot.hold_created_at, snapshot.hold_operation_id
    if created_at is None or reserved_by is None:
        raise AssertionError("a loaded hold comes with its creation time and operation")
    cancelled = msgspec.structs.replace(hold, status=HoldStatus.cancelled)
    record = hold_record(cancelled, created_at, reserved_by, resolved_at=operation.created_at)
    return Decided(
        change=change,
        hold=HoldChange(status=HoldStatus.cancelled),
        outcome=Accepted(value=record),
    )


def accrue_in_turn(snapshot: Snapshot, actor: Actor, command: AccrualCommand) -> Decided | Outcome:
    """An accrual on its snapshot: the card, the document, then the core's checks."""
    locked = snapshot.locked
    if locked is None:
        return refuse(Rejection.not_found, "No customer with this id.")
    refused = (
        None if command.card_number is None else card_refusal(locked, snapshot.card)
    ) or document_refusal(OperationType.accrual, command.document, snapshot.document_operation)
    if refused is not None:
        return refused
    decision = decide_accrue(
        locked.account,
        command.points,
        command.activates_at,
        command.expires_at,
        locked.expiry,
        locked.now,
    )
    if isinstance(decision, Rejected):
        return refused_by(decision)
    operation, change = posting_change(
        locked, actor, OperationType.accrual, decision, document=command.document
    )
    decided = Decided(change=change, outcome=posted(operation, decision))
    return counted(decided, locked, actor, decision.customer_delta)


def adjust_in_turn(
    snapshot: Snapshot, actor: Actor, command: AdjustmentCommand
) -> Decided | Outcome:
    """An operator's adjustment on its snapshot: the document, then the core's checks."""
    locked = snapshot.locked
    if locked is None:
        return refuse(Rejection.not_found, "No customer with this id.")
    existing = snapshot.document_operation
    refused = document_refusal(OperationType.adjustment, command.document, existing)
    if refused is not None:
        return refused
    decision = decide_adjust(locked.account, command.points, locked.expiry, locked.now)
    if isinstance(decision, Rejected):
        return refused_by(decision)
    operation, change = posting_change(
        locked,
        actor,
        OperationType.adjustment,
        decision,
        document=command.document,
        reason=command.reason,
    )
    return Decided(change=change, outcome=posted(operation, decision))


def refunded(original: Operation, operation: NewOperation, decision: Posting) -> Accepted:
    """A refund's answer: a commit's refund gives points back, any other claws them back."""
    moved = abs(decision.customer_delta)
    accepted = posted(operation, decision)
    gave_back = original.type is OperationType.commit
    record = RefundRecord(
        **msgspec.structs.asdict(accepted.value),
        points_returned=moved if gave_back else 0,
        points_clawed_back=0 if gave_back else moved,
    )
    return msgspec.structs.replace(accepted, value=record)


def refunded_account(
    locked: LockedAccount, original_lots: tuple[Lot, ...]
) -> tuple[Account, dict[UUID, Lot]]:
    """The account with every lot the refunded operation moved, the emptied ones included (the
    open lots leave them out), and those lots by id: what a refund or a return works on."""
    known = {lot.id for lot in locked.account.lots}
    emptied = tuple(lot for lot in original_lots if lot.id not in known)
    account = msgspec.structs.replace(locked.account, lots=locked.account.lots + emptied)
    return account, {lot.id: lot for lot in original_lots}


def refund_in_turn(snapshot: Snapshot, actor: Actor, command: RefundCommand) -> Decided | Outcome:
    """A refund by points on its snapshot: it works on the account with every lot the original
    moved, the emptied ones included."""
    locked, original = snapshot.locked, snapshot.original
    if locked is None or original is None:
        return refuse(Rejection.not_found, "No operation with this id.")
    existing = snapshot.document_operation
    refused = document_refusal(OperationType.refund, command.document, existing)
    if refused is not None:
        return refused
    account, lots = refunded_account(locked, snapshot.original_lots)
    decision = decide_refund(account, original, lots, command.points, locked.expiry, locked.now)
    if isinstance(decision, Rejected):
        return refused_by(decision)
    operation, change = posting_change(
        locked,
        actor,
        OperationType.refund,
        decision,
        stored=account,
        document=command.document,
        refund_of=original.id,
    )
    outcome = refunded(original, operation, decision)
    decided = Decided(change=change, outcome=outcome, refunded=abs(decision.customer_delta))
    return counted(decided, locked, actor, decision.customer_delta)
