"""The composition root: builds pools, clients and services from settings, and closes them.
The API's lifespan, the CLI and the worker all start here; nothing else constructs adapters."""

import asyncio
import contextlib
import ssl
from pathlib import Path
from typing import TypeVar

import asyncpg
import msgspec
import redis.asyncio as redis

from processing import telemetry
from processing.adapters import embedded
from processing.adapters.apns import ApnsClient
from processing.adapters.email import ConsoleEmail, SmtpEmail
from processing.adapters.google_wallet import HttpGoogleWallet
from processing.adapters.http_sender import HttpxSender
from processing.adapters.partner_http import HttpxPartnerApi
from processing.adapters.pass_signing import PassSigner
from processing.adapters.postgres.database import PostgresDatabase, create_pool
from processing.adapters.postgres.migrations import migrate
from processing.adapters.redis.locks import NoAccountLocks, RedisAccountLocks, create_client
from processing.adapters.redis.rate import RedisRateLimiter
from processing.adapters.redis.windows import RedisAbuseWindows
from processing.adapters.sealing import Keyring, SecretsKeyError
from processing.adapters.sms import ConsoleSms, HttpSms, SmsMessages
from processing.core.triggers import Channel
from processing.service.admin import Admin
from processing.service.certificates.use_cases import Certificates
from processing.service.checkout.pos import Pos
from processing.service.checkout.shop import ShopCheckout
from processing.service.ledger.donations import Donations
from processing.service.ledger.live_check import LiveCheck
from processing.service.ledger.merchants import Merchants
from processing.service.ledger.reads import Reads
from processing.service.ledger.settlement import Settlements
from processing.service.ledger.use_cases import Ledger
from processing.service.loyalty.bonuses import Bonuses
from processing.service.loyalty.customers import Customers
from processing.service.loyalty.membership import Memberships
from processing.service.loyalty.promo import PromoCampaigns
from processing.service.loyalty.promoters import Promoters
from processing.service.loyalty.segments import Segments
from processing.service.loyalty.use_cases import Loyalty
from processing.service.messaging.campaigns import Campaigns
from processing.service.messaging.enrollment import Enrollments
from processing.service.messaging.messages import Messages
from processing.service.messaging.outgoing import MessagePolicy, MessageRelay
from processing.service.messaging.sms import Sms
from processing.service.messaging.triggers import Triggers
from processing.service.messaging.webhooks import Relay, RelayPolicy, Webhooks
from processing.service.mutations import MutationRunner
from processing.service.partners.bitrix24.app import Bitrix24App
from processing.service.partners.bitrix24.partner import Bitrix24Partner
from processing.service.partners.bitrix24.tab import Bitrix24Tab
from processing.service.partners.bitrix24.tokens import OAuthApp
from processing.service.partners.channels import Channels, Partner
from processing.service.partners.registry import PartnerServices, registered, registry
from processing.service.ports import MessageChannel, SmsProvider
from processing.service.reports.customers import CustomerReports
from processing.service.reports.points import Reports
from processing.service.wallet.apple import AppleWallet
from processing.service.wallet.devices import PassKit
from processing.service.wallet.google import GoogleWallet, GoogleWalletSync
from processing.service.wallet.pushes import WalletPushes
from processing.settings import Settings
from processing.workers.reports import run_program_gauges_loop

P = TypeVar("P", bound=Partner)


def apns_client(settings: Settings) -> ApnsClient | None:
    """The APNs client when its key, key id and team are configured; None otherwise."""
    if not (settings.apns_key_file and settings.apns_key_id and settings.apns_team_id):
        return None
    with open(settings.apns_key_file, "rb") as file:
        key = file.read()
    return ApnsClient(
        settings.apns_url,
        settings.apns_key_id,
        settings.apns_team_id,
        key,
        settings.apns_timeout_seconds,
        settings.apns_ca_file,
    )


def resolve_urls(settings: Settings, *, serving: bool = False) -> Settings:
    """Fills in the embedded servers' URLs where none were configured. ``serving``: this is
    ``bonus serve``, which takes the servers over from a short command that started them."""
    if not settings.embedded:
        return settings
    attached = embedded.start(Path(settings.data_dir), serving=serving)
    return msgspec.structs.replace(
        settings,
        database_url=settings.database_url or attached.database_url,
        redis_url=settings.redis_url or attached.redis_url,
        # Once the URLs are filled in the settings no longer look embedded: say it outright.
        development=settings.is_development,
    )


def sms_provider(settings: Settings) -> SmsProvider:
    if settings.sms_provider == "console":
        return ConsoleSms()
    if settings.sms_provider == "http" and settings.sms_url:
        return HttpSms(settings.sms_url, settings.sms_token, settings.sms_timeout_seconds)
    raise ValueError(
        "BONUS_SMS_PROVIDER is console, or http with BONUS_SMS_URL set; "
        f"got {settings.sms_provider!r}"
    )


def email_channel(settings: Settings) -> MessageChannel:
    if settings.email_provider == "console":
        return ConsoleEmail(settings.smtp_from)
    if settings.email_provider == "smtp" and settings.smtp_host:
        context = None
        if settings.smtp_ca_file:
            context = ssl.create_default_context(cafile=settings.smtp_ca_file)
        return SmtpEmail(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            tls_context=context,
            timeout_seconds=settings.message_timeout_seconds,
        )
    raise ValueError(
        "BONUS_EMAIL_PROVIDER is console, or smtp with BONUS_SMTP_HOST set; "
        f"got {settings.email_provider!r}"
    )


def message_policy(settings: Settings) -> MessagePolicy:
    return MessagePolicy(
        max_attempts=settings.message_max_attempts,
        backoff_base_seconds=settings.message_backoff_base_seconds,
        backoff_cap_seconds=settings.message_backoff_cap_seconds,
        lease_seconds=settings.message_lease_seconds,
        timeout_seconds=settings.message_timeout_seconds,
    )


def stop_embedded_servers() -> None:
    """Stops the embedded Postgres and Redis if this process owns them; a process that only
    attached to another's leaves them running."""
    embedded.stop_all()


# What a call on the runtime's Redis client raises when Redis does not answer (refused, reset,
# timed out): for a caller that cannot do without Redis, as the console's sessions cannot.
RedisError = redis.RedisError
redis_errors = (TimeoutError, redis.RedisError, OSError)


class Runtime:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, redis_client: redis.Redis) -> None:
        self.settings = settings
        self.pool = pool
        self.redis = redis_client
        self.keyring = Keyring.from_settings(settings)
        self.database = PostgresDatabase(pool, self.keyring)
        self.locks = RedisAccountLocks(redis_client)
        self.runner = MutationRunner(self.database, self.locks)
        self.ledger = Ledger(self.database, self.runner)
        self.customers = Customers(self.database, self.runner)
        self.admin = Admin(self.database, self.runner)
        self.reads = Reads(self.database)
        self.loyalty = Loyalty(self.database, self.runner, self.keyring)
        self.promo_campaigns = PromoCampaigns(self.database, self.runner)
        self.donations = Donations(self.database, self.runner)
        self.memberships = Memberships(self.database, self.runner)
        self.promoters = Promoters(
            self.database,
            self.runner,
            settings.public_url or f"http://{settings.host}:{settings.port}",
        )
        self.reports = Reports(self.database)
        self.customer_reports = CustomerReports(self.database)
        self.segments = Segments(
            self.database, self.runner, settings.segment_exact_count_customers_max
        )
        # A campaign touches each account once: its accruals skip the Redis turn (two round
        # trips each) and rely on the apply's version check, as the turn's fallback does
        # (decision 0024); a till racing one of them is decided again on a fresh load.
        bulk = MutationRunner(self.database, NoAccountLocks())
        self.campaigns = Campaigns(
            self.database,
            self.runner,
            Ledger(self.database, bulk),
            settings.campaign_members_per_second,
            settings.campaign_batch_members,
            settings.campaign_accruals_at_once,
        )
        self.messages = Messages(self.database, self.runner)
        self.merchants = Merchants(self.database, self.runner)
        self.settlements = Settlements(self.database, self.runner)
        self.bonuses = Bonuses(self.database, self.runner)
        self.webhooks = Webhooks(self.database, self.runner, settings.outbound)
        self.certificates = Certificates(self.database, self.runner, self.keyring)
        self.pos = Pos(self.database, self.ledger, self.loyalty)
        self.shop = ShopCheckout(self.pos, self.loyalty)
        self.sms = Sms(self.database, self.runner, sms_provider(settings), self.keyring)
        self.triggers = Triggers(
            self.database,
            self.runner,
            self.keyring,
            settings.public_url or f"http://{settings.host}:{settings.port}",
        )
        self.unsubscribes = self.triggers  # the same service, reached without a key
        self.apple_wallet = AppleWallet(
            self.database,
            self.runner,
            PassSigner(),
            settings.public_url or f"http://{settings.host}:{settings.port}",
        )
        self.passkit = PassKit(self.apple_wallet)
        self.email = email_channel(settings)
        self.message_channels: dict[Channel, MessageChannel] = {
            Channel.sms: SmsMessages(self.sms.provider),
            Channel.email: self.email,
        }
        self.enrollments = Enrollments(
            self.database,
            self.runner,
            self.customers,
            self.reads,
            self.sms.provider,
            self.email,
            self.keyring,
            self.keyring,
            RedisAbuseWindows(redis_client),
            settings.public_url or f"http://{settings.host}:{settings.port}",
        )
        self.partner_api = HttpxPartnerApi(settings.channel_timeout_seconds, settings.outbound)
        self.partner_rates = RedisRateLimiter(redis_client)
        services = PartnerServices(
            database=self.database,
            ledger=self.ledger,
            loyalty=self.loyalty,
            pos=self.pos,
            api=self.partner_api,
            limiter=self.partner_rates,
            bitrix24_oauth=OAuthApp(
                client_id=settings.bitrix24_client_id,
                client_secret=settings.bitrix24_client_secret,
                oauth_url=settings.bitrix24_oauth_url,
            ),
        )
        self.partners = {entry.name: entry.build(services) for entry in registry}
        self.channels = Channels(
            self.database, self.runner, self.partners, registered, outbound=settings.outbound
        )
        self.bitrix24_app = Bitrix24App(
            self.database, self.runner, self.partner_api, settings.outbound, settings.public_url
        )
        self.google_wallet_api = HttpGoogleWallet(
            settings.google_wallet_api_url,
            settings.google_wallet_token_url,
            settings.google_wallet_timeout_seconds,
            settings.outbound,
        )
        self.google_wallet = GoogleWallet(self.database, self.runner, self.google_wallet_api)
        self.bitrix24_tab = Bitrix24Tab(
            self.database, self.partner_api, self.channels, self.partner(Bitrix24Partner)
        )

    def partner(self, kind: type[P]) -> P:
        """The handler of one partner, as its own class (the CLI's installers call theirs)."""
        [found] = [partner for partner in self.partners.values() if isinstance(partner, kind)]
        return found

    @classmethod
    async def open(cls, settings: Settings) -> "Runtime":
        if settings.database_url is None or settings.redis_url is None:
            raise ValueError("resolve_urls(settings) first: the runtime needs both URLs")
        pool = await create_pool(
            settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        async with pool.acquire() as connection:
            await migrate(connection)
        telemetry.db_pool_max.set(settings.db_pool_max)
        try:
            runtime = cls(settings, pool, create_client(settings.redis_url))
        except SecretsKeyError:
            await pool.close()
            raise
        # Rows written before secrets were sealed (or by a process without the key) are sealed
        # now, so the database holds no secret in clear once a server has started.
        async with runtime.database.transaction() as store:
            await store.seal_secrets(rotate=False)
        await runtime.redis_ready()  # bonus_redis_up says the truth from the start
        return runtime

    async def run_relay(self) -> None:
        """The webhook relay, until cancelled: its own HTTP client, closed on the way out."""
        settings = self.settings
        sender = HttpxSender(settings.webhook_timeout_seconds, settings.outbound)
        policy = RelayPolicy(
            max_attempts=settings.webhook_max_attempts,
            backoff_base_seconds=settings.webhook_backoff_base_seconds,
            backoff_cap_seconds=settings.webhook_backoff_cap_seconds,
            lease_seconds=settings.webhook_lease_seconds,
            timeout_seconds=settings.webhook_timeout_seconds,
        )
        try:
            await Relay(self.database, sender, policy).run_forever(settings.webhook_idle_seconds)
        finally:
            await sender.close()

    async def run_program_gauges(self) -> None:
        """The program gauges (liability, active customers) from the rollups, until cancelled."""
        await run_program_gauges_loop(self.database)

    async def run_messages(self) -> None:
        """The message relay (trigger messages made and sent), until cancelled."""
        relay = MessageRelay(
            self.database, self.message_channels, self.triggers, message_policy(self.settings)
        )
        await relay.run_forever(
            self.settings.webhook_idle_seconds, self.settings.message_scan_interval_seconds
        )

    async def run_wallet(self) -> None:
        """Builds the passes of customers whose balance or tier changed and pushes their
        devices through APNs (decision 0029), until cancelled."""
        push = apns_client(self.settings)
        try:
            await WalletPushes(self.apple_wallet, push).run_forever(
                self.settings.webhook_idle_seconds
            )
        finally:
            if push is not None:
                await push.close()

    async def run_campaigns(self) -> None:
        """Starts due campaigns and accrues their members, until cancelled."""
        await self.campaigns.run_forever(self.settings.webhook_idle_seconds)

    async def run_live_check(self) -> None:
        """Re-verifies the books a slice of accounts at a time, until cancelled."""
        settings = self.settings
        await LiveCheck(
            self.database, settings.live_check_accounts_per_pass, settings.live_check_pause_seconds
        ).run_forever()

    async def run_google_wallet(self) -> None:
        """Patches the Google Wallet objects of cards that changed, until cancelled."""
        sync = GoogleWalletSync(self.database, self.google_wallet_api)
        await sync.run_forever(self.settings.webhook_idle_seconds)

    async def run_channels(self) -> None:
        """Applies partner events from the inbox, and sweeps partners for changes whose events
        never came, until cancelled."""
        await asyncio.gather(
            self.channels.run_forever(self.settings.webhook_idle_seconds),
            self.channels.sweep_forever(self.settings.channel_sweep_interval_seconds),
        )

    async def close(self) -> None:
        await self.segments.stop_counting()
        await self.sms.provider.close()
        if isinstance(self.email, SmtpEmail):
            await self.email.close()  # its idle connections, with QUIT
        await self.partner_api.close()
        await self.google_wallet_api.close()
        await self.redis.aclose()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.pool.close(), timeout=10)

    def observe_pool(self) -> None:
        telemetry.db_pool_size.set(self.pool.get_size())
        telemetry.db_pool_in_use.set(self.pool.get_size() - self.pool.get_idle_size())

    async def redis_ready(self) -> bool:
        try:
            ready = bool(await self.redis.ping())
        except (TimeoutError, redis.RedisError, OSError):
            ready = False
        telemetry.redis_up.set(1 if ready else 0)
        return ready
