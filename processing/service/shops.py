"""What the partner channels share when they apply an order or a deal: the program's customer
by its phone, the program's currency, the purchase an order made, and the loyalty card a CRM
shows (balance, tier, card number)."""

from uuid import UUID

import msgspec

from processing.core.balances import balance_of
from processing.core.model import OperationType
from processing.service.channels import PartnerRejected
from processing.service.customers import look_up
from processing.service.ports import Database
from processing.service.records import Connection, Refused
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


async def customer_by_phone(
    database: Database, connection: Connection, phone: str | None
) -> UUID | None:
    """The program's customer with this phone; None for someone outside the program (the order
    changes nothing) or an order without a phone."""
    if phone is None:
        return None
    async with database.reader() as store:
        customer = await look_up(store, connection.actor, phone, None)
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
