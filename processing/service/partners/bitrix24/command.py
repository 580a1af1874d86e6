"""``bonus bitrix24-install``: creates the custom fields a Bitrix24 connection reads and writes
in its portal, and says where the portal's outgoing webhook is to send which events."""

from typing import Any

from processing.service.partners.bitrix24.partner import Bitrix24Partner
from processing.service.partners.bitrix24.translation import deal_events
from processing.service.partners.commands import PartnerCommand
from processing.service.records import Connection


async def install(partner: Bitrix24Partner, connection: Connection) -> dict[str, Any]:
    report = await partner.install(connection)
    return report | {
        "handler_path": f"/hooks/bitrix24/{connection.id}",
        "events": sorted(deal_events),
    }


commands = (
    PartnerCommand(
        name="bitrix24-install",
        help="create the custom fields a Bitrix24 connection reads and writes in its portal",
        counterpart="the portal",
        handler=Bitrix24Partner,
        run=install,
    ),
)
