"""Every partner, in one place: the name its connections and receiver path use, the scope its
channel key acts with, the secrets a connection cannot work without (sealed at rest with the
rest of the connection's secrets), where its API is, how its receiver verifies a request, how
its handler is built and the ``bonus`` subcommands it adds. The runtime, the CLI, the HTTP
receivers and the channels read this table; a new partner is one folder beside the others and
one entry here."""

from collections.abc import Callable
from typing import Any, Literal

import msgspec

from processing.service.checkout.pos import Pos
from processing.service.ledger.use_cases import Ledger
from processing.service.loyalty.use_cases import Loyalty
from processing.service.partners.bitrix24 import command as bitrix24_command
from processing.service.partners.bitrix24 import receiver as bitrix24
from processing.service.partners.bitrix24.partner import Bitrix24Partner
from processing.service.partners.bitrix24.tokens import OAuthApp
from processing.service.partners.channels import Partner
from processing.service.partners.commands import PartnerCommand
from processing.service.partners.receiving import Inbound, Received
from processing.service.partners.retailcrm import command as retailcrm_command
from processing.service.partners.retailcrm import receiver as retailcrm
from processing.service.partners.retailcrm.partner import RetailCrmPartner
from processing.service.partners.shopify import receiver as shopify
from processing.service.partners.shopify.partner import ShopifyPartner
from processing.service.partners.woocommerce import receiver as woocommerce
from processing.service.partners.woocommerce.partner import WooCommercePartner
from processing.service.ports import Database, PartnerApi, RateLimiter
from processing.service.records import Connection


class PartnerServices(msgspec.Struct, frozen=True, kw_only=True):
    """What a partner's handler may be built with."""

    database: Database
    ledger: Ledger
    loyalty: Loyalty
    pos: Pos
    api: PartnerApi
    limiter: RateLimiter
    bitrix24_oauth: OAuthApp = OAuthApp()  # our Bitrix24 application at the OAuth server


class Registration(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # as connections, receiver paths (/hooks/{name}/{connection_id}) and the CLI say it
    label: str  # as people read it
    scope: Literal["crm", "shop"]  # the scope its channel key acts with
    secrets: tuple[str, ...]  # what a connection cannot work without; never shown back
    # Where its API is that we call: the account itself (a site's URL) or one of the secrets (a
    # Bitrix24 inbound webhook's URL); checked as any outbound destination is. None: never called.
    api_url: tuple[Literal["account", "secret"], str] | None
    receiver: str  # the receiver's route name in the published contract
    receive: Callable[[Connection, Inbound], Received]
    build: Callable[[PartnerServices], Partner]
    commands: tuple[PartnerCommand[Any], ...] = ()  # its own ``bonus`` subcommands, if any


registry: tuple[Registration, ...] = (
    Registration(
        name="bitrix24",
        label="Bitrix24",
        scope="crm",
        secrets=("webhook_url", "application_token"),
        api_url=("secret", "webhook_url"),
        receiver="bitrix24_event",
        receive=bitrix24.receive,
        build=lambda services: Bitrix24Partner(
            services.database,
            services.ledger,
            services.loyalty,
            services.pos,
            services.api,
            services.limiter,
            services.bitrix24_oauth,
        ),
        commands=bitrix24_command.commands,
    ),
    Registration(
        name="retailcrm",
        label="RetailCRM",
        scope="crm",
        secrets=("api_key", "trigger_secret"),
        api_url=("account", "account"),
        receiver="retailcrm_trigger",
        receive=retailcrm.receive,
        build=lambda services: RetailCrmPartner(
            services.database, services.ledger, services.loyalty, services.api, services.limiter
        ),
        commands=retailcrm_command.commands,
    ),
    Registration(
        name="shopify",
        label="Shopify",
        scope="shop",
        secrets=("client_secret",),
        api_url=None,
        receiver="shopify_webhook",
        receive=shopify.receive,
        build=lambda services: ShopifyPartner(services.database, services.ledger, services.loyalty),
    ),
    Registration(
        name="woocommerce",
        label="WooCommerce",
        scope="shop",
        secrets=("webhook_secret", "consumer_key", "consumer_secret"),
        api_url=("account", "account"),
        receiver="woocommerce_webhook",
        receive=woocommerce.receive,
        build=lambda services: WooCommercePartner(
            services.database, services.ledger, services.loyalty, services.api
        ),
    ),
)
registered = {registration.name: registration for registration in registry}
