"""The customer card inside a Bitrix24 portal: the contact's and the deal's tab
(``CRM_CONTACT_DETAIL_TAB``, ``CRM_DEAL_DETAIL_TAB``, bound at install; docs/decisions/0021).

The portal opens a tab by POSTing a form to our handler in the card's frame: ``AUTH_ID`` (the
user's own access token), ``member_id``, ``APPLICATION_TOKEN``, ``PLACEMENT`` and
``PLACEMENT_OPTIONS`` (a JSON string, ``{"ID": "8061"}``), with ``DOMAIN``, ``PROTOCOL`` and
``LANG`` in the query. Nothing in it is signed, so it is verified against the portal: the
``member_id`` must name an installed portal whose connection is active, the application token
must be the one stored at install, the domain the portal's, and the portal itself must answer
``profile`` to ``AUTH_ID`` (a token made up, expired or of another portal is refused there).
The contact is then read with the user's own token, so the portal's permissions decide what
the user may see, and its phone names the program's customer.
"""

import hmac
import json
from urllib.parse import parse_qsl
from uuid import UUID

import msgspec
import structlog

from processing.core.rejections import Rejection
from processing.service.partners import shops
from processing.service.partners.bitrix24 import translation as bitrix24
from processing.service.partners.bitrix24.app import placements
from processing.service.partners.bitrix24.app_forms import form_of, text
from processing.service.partners.bitrix24.partner import Bitrix24Partner, field_codes
from processing.service.partners.bitrix24.tokens import rest_call
from processing.service.partners.channels import Channels, PartnerBusy
from processing.service.partners.translation import Unusable
from processing.service.ports import Database, PartnerApi, PartnerUnavailable
from processing.service.records import Actor, Connection, Refused, refuse

log = structlog.get_logger(__name__)
entity_id_digits_max = 20


class Placement(msgspec.Struct, frozen=True, kw_only=True):
    """A placement request as it came, read once."""

    member_id: str
    auth_id: str
    application_token: str
    placement: str
    entity_id: str  # the contact's or the deal's id
    domain: str
    lang: str


class TabOpened(msgspec.Struct, frozen=True, kw_only=True):
    """A verified tab: the portal's connection, what the tab shows, and whom it shows."""

    connection: Connection
    actor: Actor
    placement: str
    user_id: str
    deal_id: str | None
    contact_id: str | None
    phone: str | None
    customer_id: UUID | None
    frame_origin: str  # the portal's origin, the only one that may frame the tab


def placement_of(body: bytes, query: str) -> Placement:
    form = form_of(body)
    params = dict(parse_qsl(query, keep_blank_values=True))
    values = {
        "member_id": text(form, "member_id", 64),
        "auth_id": text(form, "AUTH_ID", 512),
        "placement": text(form, "PLACEMENT", 100),
    }
    for name, value in values.items():
        if not value:
            raise Unusable(f"the placement request carries no {name}")
    try:
        options = json.loads(text(form, "PLACEMENT_OPTIONS", 2000) or "{}")
    except ValueError as error:
        raise Unusable("PLACEMENT_OPTIONS is not JSON") from error
    entity_id = str(options.get("ID", "")) if isinstance(options, dict) else ""
    if not entity_id.isdigit() or len(entity_id) > entity_id_digits_max:
        raise Unusable("PLACEMENT_OPTIONS names no CRM item")
    return Placement(
        **values,
        application_token=text(form, "APPLICATION_TOKEN", 512),
        entity_id=entity_id,
        domain=(text(params, "DOMAIN", 255) or text(form, "DOMAIN", 255)).lower(),
        lang=text(params, "LANG", 8) or text(form, "LANG", 8),
    )


class Bitrix24Tab:
    def __init__(
        self, database: Database, api: PartnerApi, channels: Channels, partner: Bitrix24Partner
    ) -> None:
        self.database = database
        self.api = api
        self.channels = channels
        self.partner = partner

    async def open(self, placement: Placement) -> TabOpened | Refused:
        async with self.database.reader() as store:
            state = await store.portal_by_member(placement.member_id)
        if state is None or not state.connection.active:
            return refuse(Rejection.unauthorized, "No portal with this member_id is installed.")
        connection = state.connection
        expected = connection.secrets.get("application_token", "")
        sent = placement.application_token
        if sent and not hmac.compare_digest(sent.encode(), expected.encode()):
            return refuse(Rejection.unauthorized, "APPLICATION_TOKEN does not match.")
        if placement.domain and placement.domain != connection.account:
            return refuse(Rejection.unauthorized, "DOMAIN is not the installed portal's.")
        if placement.placement not in placements:
            return refuse(Rejection.validation_error, f"{placement.placement} is not our tab.")
        endpoint = connection.secrets["client_endpoint"]
        try:
            user_id = await self.user_of(endpoint, placement.auth_id)
            if isinstance(user_id, Refused):
                return user_id
            deal_id, contact = await self.contact_of(endpoint, placement)
        except PartnerUnavailable as error:
            return refuse(Rejection.partner_unavailable, f"The portal did not answer: {error}")
        actor = self.channels.actor(connection)
        phone = contact.phones[0].value if contact and contact.phones else None
        customer_id = await shops.customer_by_phone(self.database, actor, phone)
        scheme, _, _ = endpoint.partition("://")
        return TabOpened(
            connection=connection,
            actor=actor,
            placement=placement.placement,
            user_id=user_id,
            deal_id=deal_id,
            contact_id=contact.id if contact else None,
            phone=phone,
            customer_id=customer_id,
            frame_origin=f"{scheme}://{connection.account}",
        )

    async def user_of(self, endpoint: str, auth_id: str) -> str | Refused:
        """The portal's user whose token ``auth_id`` is (``profile``), or why not."""
        status, answer = await rest_call(self.api, endpoint, "profile", {}, auth_id)
        error = bitrix24.error_of(answer)
        if status in (401, 403) or (status == 400 and error is not None):
            code = error[0] if error else str(status)
            return refuse(Rejection.unauthorized, f"The portal does not accept AUTH_ID ({code}).")
        profile = answer.get("result") if isinstance(answer, dict) else None
        if status != 200 or not isinstance(profile, dict) or not profile.get("ID"):
            raise PartnerUnavailable(f"profile answered {status}")
        return str(profile["ID"])

    async def contact_of(
        self, endpoint: str, placement: Placement
    ) -> tuple[str | None, bitrix24.Contact | None]:
        """The deal (on the deal's tab) and the contact the tab shows, read with the user's
        token; a contact the user may not see, or a deal without one, is None."""
        if placement.placement == "CRM_DEAL_DETAIL_TAB":
            batch = bitrix24.read_batch(placement.entity_id)
            status, answer = await rest_call(self.api, endpoint, "batch", batch, placement.auth_id)
            if status >= 500 or answer is None:
                raise PartnerUnavailable(f"batch answered {status}")
            try:
                read = bitrix24.deal_read_of(answer)
            except Unusable:
                return placement.entity_id, None
            return read.deal.id, read.contact
        params = {"ID": placement.entity_id}
        status, answer = await rest_call(
            self.api, endpoint, "crm.contact.get", params, placement.auth_id
        )
        if status >= 500 or answer is None:
            raise PartnerUnavailable(f"crm.contact.get answered {status}")
        contact = answer.get("result") if isinstance(answer, dict) else None
        try:
            return None, msgspec.convert(contact, bitrix24.Contact, strict=False)
        except msgspec.ValidationError:
            return None, None

    async def request_writeoff(self, connection: Connection, deal_id: str, points: int) -> None:
        """Puts ``points`` in the deal's "points to write off" field; the portal's update event
        then spends them through the channel, as a manager's own edit would."""
        writeoff_field = field_codes(connection)["writeoff_field"]
        params = {"ID": deal_id, "FIELDS": {writeoff_field: points}}
        try:
            await self.partner.call(connection, "crm.deal.update", params)
        except PartnerBusy as busy:
            raise PartnerUnavailable(str(busy)) from busy
        except Unusable as error:
            raise PartnerUnavailable(str(error)) from error
        log.info("bitrix24_tab_writeoff_requested", deal_id=deal_id, points=points)

    async def connection(self, connection_id: UUID) -> Connection | None:
        return await self.channels.connection(connection_id)
