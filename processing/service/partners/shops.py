"""What the partner channels share when they apply an order or a deal: the program's customer
by its phone, the program's currency, the purchase an order made, the loyalty card a CRM
shows (balance, tier, card number), and the points an order's or a deal's holds spent, given
back from what the ledger says they spent (never from what a CRM's field says now)."""

from uuid import UUID

import msgspec

from processing.core.balances import balance_of
from processing.core.model import OperationType
from processing.service.ledger.decisions import RefundCommand
from processing.service.ledger.use_cases import Ledger
from processing.service.loyalty.customers import look_up
from processing.service.partners.channels import Applied, Channels, PartnerRejected
from processing.service.ports import Database
from processing.service.records import Actor, Connection, Document, DocumentHold, Refused
from processing.service.rules import standing_now


class LoyaltyCard(msgspec.Struct, frozen=True, kw_only=True):
    """What a CRM shows on its customer card."""

    balance: int  # points available now
    tier: str | None
    card: str | None  # the first active card's number


async def loyalty_card(
    database: Database, connection: Connection, customer_id: UUID
) -> LoyaltyCard | None:
    """The customer's card as it is now, in one read; None for a customer the program lost."""
    async with database.reader() as store:
        read = await store.read_account(customer_id, connection.program_id)
        found = await store.get_customer(customer_id, connection.program_id)
        if read is None or found is None:
            return None
        record, standing = await standing_now(store, read)
    tier = standing.tier(record.rules)
    return LoyaltyCard(
        balance=balance_of(read.account, read.now).available,
        tier=tier.name if tier else None,
        card=next((card.number for card in found.cards if card.status == "active"), None),
    )


async def customer_by_phone(database: Database, actor: Actor, phone: str | None) -> UUID | None:
    """The program's customer with this phone; None for someone outside the program (the order
    changes nothing) or an order without a phone."""
    if phone is None:
        return None
    async with database.reader() as store:
        customer = await look_up(store, actor, phone, None)
    return None if isinstance(customer, Refused) else customer.id


async def check_currency(
    database: Database, connection: Connection, currency: str, order: str
) -> None:
    """An order in another currency than the program's is refused for good: its money cannot
    be priced in points."""
    async with database.reader() as store:
        program = await store.get_program(connection.program_id, None)
    if program is None or program.currency != currency.upper():
        expected = program.currency if program else "none"
        raise PartnerRejected(f"order {order} is in {currency}, the program in {expected}")


async def purchase_of(database: Database, connection: Connection, document_id: str) -> UUID | None:
    async with database.reader() as store:
        return await store.find_document(
            connection.program_id, None, OperationType.purchase, document_id
        )


def like_exactly(text: str) -> str:
    """A LIKE pattern that matches ``text`` only; add ``%`` for the ids that start with it."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def document_holds(
    database: Database, connection: Connection, pattern: str
) -> list[DocumentHold]:
    async with database.reader() as store:
        return await store.document_holds(connection.program_id, pattern)


async def give_back(
    ledger: Ledger, channels: Channels, connection: Connection, hold: DocumentHold
) -> Applied | None:
    """Releases a hold still open, or refunds what its commit still spends, under a key of the
    hold's own (so a replay answers the same); None when it holds and spends nothing."""
    if hold.status == "active":
        return await channels.apply(
            connection,
            f"{connection.partner}:hold:{hold.id}:cancel",
            {"hold_id": str(hold.id)},
            lambda mutation, render: ledger.cancel(mutation, hold.id, render),
        )
    if hold.spent <= 0 or hold.committed_by is None:
        return None
    operation_id = hold.committed_by
    command = RefundCommand(document=Document(id=f"{hold.document_id[:80]}-back-{operation_id}"))
    return await channels.apply(
        connection,
        f"{connection.partner}:commit:{operation_id}:refund",
        command,
        lambda mutation, render: ledger.refund(mutation, operation_id, command, render),
    )
