"""``bonus retailcrm-install``: creates the custom fields a RetailCRM connection reads and
writes in its account, and says where the account's trigger is to send its requests."""

from typing import Any

from processing.service.partners.commands import PartnerCommand
from processing.service.partners.retailcrm.install import install as install_fields
from processing.service.partners.retailcrm.partner import RetailCrmPartner
from processing.service.records import Connection


async def install(partner: RetailCrmPartner, connection: Connection) -> dict[str, Any]:
    report = await install_fields(partner, connection)
    return report | {"trigger_path": f"/hooks/retailcrm/{connection.id}"}


commands = (
    PartnerCommand(
        name="retailcrm-install",
        help="create the custom fields a RetailCRM connection reads and writes in its account",
        counterpart="the account",
        handler=RetailCrmPartner,
        run=install,
    ),
)
