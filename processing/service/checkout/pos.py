"""The cash-register protocol's lookups: who the customer at the till is, and what a till's
cheque id stands for (the hold its soft cheque reserved, the purchase its fiscal cheque made).

The tills' calls themselves are the same use cases as the ``/v1`` API (reserve, commit as one
purchase, cancel, purchase, return by line), keyed by the till's own cheque ids within its
store, so a till never has to keep our ids.
"""

from uuid import UUID

import msgspec

from processing.core.balances import Balance, balance_of
from processing.core.membership import InForce
from processing.core.model import Line, OperationType
from processing.core.rejections import Rejection
from processing.service.certificates.payments import CertificateRequest
from processing.service.ledger.use_cases import Ledger
from processing.service.loyalty.customers import look_up
from processing.service.loyalty.use_cases import (
    CommitCommand,
    CommitRecord,
    LineReturnCommand,
    Loyalty,
    PurchaseCommand,
    PurchaseRecord,
    ReceiptRecord,
)
from processing.service.mutations import Mutation, Render
from processing.service.ports import Database
from processing.service.records import (
    Accepted,
    Actor,
    Document,
    Outcome,
    Refused,
    StoredResponse,
    refuse,
)
from processing.service.rules import standing_now


class TillCustomer(msgspec.Struct, frozen=True, kw_only=True):
    """What a cashier sees after identifying a customer."""

    customer_id: UUID
    name: str | None
    card_number: str | None  # the card the customer was identified by
    blocked: bool
    tier: str | None
    balance: Balance
    membership: InForce | None = None  # the paid membership in force (decision 0035)


class ChequeHold(msgspec.Struct, frozen=True, kw_only=True):
    hold_id: UUID
    customer_id: UUID


class ChequeCommit(msgspec.Struct, frozen=True, kw_only=True):
    """A fiscal cheque: the final receipt, and for a cheque with no reservation the customer."""

    lines: tuple[Line, ...]
    points: int | None = None
    customer_id: UUID | None = None
    card_number: str | None = None
    fiscal: dict[str, str] | None = None
    promo_codes: tuple[str, ...] = ()  # as typed; each must apply (decision 0032)
    certificates: tuple[CertificateRequest, ...] | None = None  # paying part of the money


def as_commit(render: Render) -> Render:
    """Answers a purchase with no reservation in the shape of a committed one (the operation,
    its receipt), so a till reads one answer for every fiscal cheque."""

    def convert(outcome: Outcome) -> StoredResponse:
        if isinstance(outcome, Accepted) and isinstance(outcome.value, PurchaseRecord):
            bought = outcome.value
            receipt = ReceiptRecord(
                **{name: getattr(bought, name) for name in ReceiptRecord.__struct_fields__}
            )
            committed = CommitRecord(**msgspec.structs.asdict(bought.operation), receipt=receipt)
            outcome = msgspec.structs.replace(outcome, value=committed, created=False)
        return render(outcome)

    return convert


def reserved_for_another(document_id: str) -> Refused:
    return refuse(
        Rejection.validation_error,
        f"{document_id} was reserved for another customer.",
        field="customer_id",
    )


class Pos:
    def __init__(self, database: Database, ledger: Ledger, loyalty: Loyalty) -> None:
        self.database = database
        self.ledger = ledger
        self.loyalty = loyalty

    async def identify(self, actor: Actor, kind: str, value: str) -> Outcome:
        """By phone, by card number, or by the card number a QR code carries."""
        phone, card = (value, None) if kind == "phone" else (None, value)
        async with self.database.reader() as store:
            customer = await look_up(store, actor, phone, card)
            if isinstance(customer, Refused):
                field = customer.field and "identifier.value"
                return msgspec.structs.replace(customer, field=field)
            read = await store.read_account(customer.id, customer.program_id)
            if read is None:
                return refuse(Rejection.not_found, "No such customer.")
            record, standing = await standing_now(store, read)
            tier = standing.tier(record.rules)
        return Accepted(
            value=TillCustomer(
                customer_id=customer.id,
                name=customer.name,
                card_number=card,
                blocked=customer.blocked,
                tier=tier.name if tier else None,
                balance=balance_of(read.account, read.now),
                membership=standing.privileges(read.now),
            )
        )

    async def cheque_hold(self, actor: Actor, cheque_id: str) -> ChequeHold | None:
        if actor.program_id is None:
            return None
        async with self.database.reader() as store:
            found = await store.cheque_hold(actor.program_id, actor.store_id, cheque_id)
        if found is None:
            return None
        hold_id, customer_id = found
        return ChequeHold(hold_id=hold_id, customer_id=customer_id)

    async def cheque_purchase(self, actor: Actor, cheque_id: str) -> UUID | None:
        """The purchase a cheque made at this till's store, paid with points or not."""
        if actor.program_id is None:
            return None
        async with self.database.reader() as store:
            return await store.find_document(
                actor.program_id, actor.store_id, OperationType.purchase, cheque_id
            )

    async def commit(
        self, mutation: Mutation, cheque_id: str, command: ChequeCommit, render: Render
    ) -> StoredResponse:
        """The fiscal cheque. A cheque that reserved points commits its hold as one purchase
        (an expired, cancelled or committed one answers why it cannot). A cheque with no
        reservation is a purchase (a till that was offline posts these late: the cheque id
        applies once); points it says paid are accepted up to the rules' offline cap, otherwise
        ``reservation_required``."""
        actor = mutation.actor
        hold = await self.cheque_hold(actor, cheque_id)
        if hold is not None and command.customer_id not in (None, hold.customer_id):
            return render(reserved_for_another(cheque_id))
        if hold is not None:
            paid = CommitCommand(
                points=command.points,
                lines=command.lines,
                fiscal=command.fiscal,
                promo_codes=command.promo_codes,
                certificates=command.certificates,
            )
            return await self.loyalty.commit(mutation, hold.hold_id, paid, render)
        if command.customer_id is None:
            return render(
                refuse(
                    Rejection.validation_error,
                    "A cheque with no reservation names its customer.",
                    field="customer_id",
                )
            )
        bought = PurchaseCommand(
            document=Document(id=cheque_id),
            lines=command.lines,
            card_number=command.card_number,
            fiscal=command.fiscal,
            offline_points=command.points or 0,
            promo_codes=command.promo_codes,
            certificates=command.certificates,
        )
        return await self.loyalty.purchase(mutation, command.customer_id, bought, as_commit(render))

    async def cancel(self, mutation: Mutation, cheque_id: str, render: Render) -> StoredResponse:
        hold = await self.cheque_hold(mutation.actor, cheque_id)
        if hold is None:
            return render(
                refuse(Rejection.hold_not_found, f"Nothing was reserved under {cheque_id} here.")
            )
        return await self.ledger.cancel(mutation, hold.hold_id, render)

    async def return_lines(
        self,
        mutation: Mutation,
        cheque_id: str,
        command: LineReturnCommand,
        render: Render,
    ) -> StoredResponse:
        """A return against the original cheque, by line: points that paid for the lines come
        back, points they earned are clawed back."""
        purchase_id = await self.cheque_purchase(mutation.actor, cheque_id)
        if purchase_id is None:
            return render(
                refuse(Rejection.not_found, f"No purchase was made under {cheque_id} here.")
            )
        return await self.loyalty.return_lines(mutation, purchase_id, command, render)
