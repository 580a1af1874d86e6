"""What the web-shop partners share when they apply an order: the program's customer by the
order's phone, the program's currency, and the purchase an order made."""

from uuid import UUID

from processing.core.model import OperationType
from processing.service.channels import PartnerRejected
from processing.service.customers import look_up
from processing.service.ports import Database
from processing.service.records import Connection, Refused


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
