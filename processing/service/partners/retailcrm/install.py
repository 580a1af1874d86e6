"""RetailCRM's custom fields, created by ``bonus retailcrm-install`` where an account lacks them
(as ``bonus bitrix24-install`` does for a portal): the points field a manager fills in on
orders, our share of the order's discount, and the customer's balance, tier and card."""

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

from processing.service.partners.channels import PartnerBusy
from processing.service.partners.retailcrm import translation as retailcrm
from processing.service.partners.retailcrm.partner import RetailCrmPartner
from processing.service.records import Connection


async def install(partner: RetailCrmPartner, connection: Connection) -> dict[str, list[str]]:
    """Creates the custom fields the channel reads and writes that the account lacks
    (``POST /api/v5/custom-fields/{entity}/create``, each looked up first by
    ``GET /api/v5/custom-fields`` with ``filter[entity]`` and ``filter[code]``); running it
    again creates nothing. Records that the account has our discount field, which the discount
    write-back needs. Returns the ``entity.code`` names created and found."""
    report: dict[str, list[str]] = {"created": [], "found": []}
    points_field = connection.settings.get("points_field", retailcrm.default_points_field)
    for entity, wanted in retailcrm.installed_fields(points_field).items():
        for code, field in wanted.items():
            query = urlencode({"filter[entity]": entity, "filter[code]": code, "limit": 20})
            listed = await patiently(partner.get, connection, f"custom-fields?{query}")
            if code in retailcrm.custom_field_codes(listed):
                report["found"].append(f"{entity}.{code}")
                continue
            form = {"customField": json.dumps(field)}
            await patiently(partner.post, connection, f"custom-fields/{entity}/create", form, None)
            report["created"].append(f"{entity}.{code}")
    async with partner.database.transaction() as store:
        await store.set_connection_setting(
            connection.id, "discount_field", retailcrm.discount_field
        )
    return report


async def patiently(call: Any, *args: Any, tries: int = 20) -> Any:
    """A call made outside the worker (the installer): waits out our rate limit."""
    for _ in range(tries - 1):
        try:
            return await call(*args)
        except PartnerBusy as busy:
            await asyncio.sleep(busy.retry_after)
    return await call(*args)
