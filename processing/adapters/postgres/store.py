"""The Postgres store: named queries on one connection, rows turned into core values, one mixin
per area (the ledger, loyalty, keys, customers, webhooks, partner channels, SMS checks) and the
plan writer (``TurnQueries``).

Every method runs on the connection it was built with; the service decides where transactions
begin and end.
"""

from typing import Any

import asyncpg

from processing.adapters.postgres.bitrix24_app import Bitrix24AppQueries
from processing.adapters.postgres.campaigns import CampaignQueries
from processing.adapters.postgres.certificates import CertificateQueries
from processing.adapters.postgres.channels import ChannelQueries
from processing.adapters.postgres.customer_reports import CustomerReportQueries
from processing.adapters.postgres.customers import CustomerQueries
from processing.adapters.postgres.donations import DonationQueries
from processing.adapters.postgres.enrollment import EnrollmentQueries
from processing.adapters.postgres.google_wallet import GoogleWalletQueries
from processing.adapters.postgres.imports import ImportQueries
from processing.adapters.postgres.keys import KeyQueries
from processing.adapters.postgres.ledger import LedgerQueries
from processing.adapters.postgres.loyalty import LoyaltyQueries
from processing.adapters.postgres.membership import MembershipQueries
from processing.adapters.postgres.merchants import MerchantQueries
from processing.adapters.postgres.named import Connection
from processing.adapters.postgres.promo import PromoQueries
from processing.adapters.postgres.promoters import PromoterQueries
from processing.adapters.postgres.reports import ReportQueries
from processing.adapters.postgres.segments import SegmentQueries
from processing.adapters.postgres.sms import SmsQueries
from processing.adapters.postgres.triggers import TriggerQueries
from processing.adapters.postgres.turns import TurnQueries
from processing.adapters.postgres.wallet import WalletQueries
from processing.adapters.postgres.webhooks import WebhookQueries
from processing.adapters.sealing import Keyring

__all__ = ["Connection", "PostgresStore"]


class PostgresStore(
    PromoterQueries,
    DonationQueries,
    MembershipQueries,
    PromoQueries,
    LedgerQueries,
    LoyaltyQueries,
    KeyQueries,
    CustomerQueries,
    ImportQueries,
    WebhookQueries,
    Bitrix24AppQueries,
    ChannelQueries,
    SmsQueries,
    SegmentQueries,
    CampaignQueries,
    TriggerQueries,
    MerchantQueries,
    ReportQueries,
    WalletQueries,
    CustomerReportQueries,
    EnrollmentQueries,
    GoogleWalletQueries,
    CertificateQueries,
    TurnQueries,
):
    def __init__(self, connection: Connection, keyring: Keyring) -> None:
        self.connection = connection
        self.keyring = keyring  # seals secrets on the way in, opens them on the way out

    async def fetch_named(self, name: str, *args: Any) -> list[asyncpg.Record]:
        return await self._fetch(name, *args)

    async def seal_secrets(self, rotate: bool) -> dict[str, int]:
        """Seals every secret still in clear; with ``rotate``, also re-seals every one sealed
        under an older key (the wallets' keys, credentials and pass tokens too). Returns how
        many of each it wrote."""
        written = await super().seal_secrets(rotate)
        google = {"google_wallet_keys": await self.reseal_wallet_keys(rotate)}
        return written | google | await self.reseal_apple_wallet(rotate)
