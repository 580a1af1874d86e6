"""Settings, read once from ``BONUS_*`` environment variables."""

import os
from collections.abc import Mapping

import msgspec

from processing.core import limits
from processing.core.outbound import OutboundPolicy

_prefix = "BONUS_"

# BONUS_ADMIN_KEY is a bearer secret with every power: outside development it must be at least
# this long and none of the placeholders deploy files ship ("change-me-local-admin-key" in the
# compose file and "CHANGE_ME" in the Kubernetes Secret were once working admin keys).
admin_key_characters_min = 32
# Compared with the key lower-cased and stripped to letters and digits.
admin_key_placeholder_markers = ("changeme", "placeholder", "example", "yourkey", "secretkey")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    # Without these two, the embedded Postgres and Redis under data_dir are started.
    database_url: str | None = None
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # An operator key with exactly this secret exists after start-up (for automation).
    admin_key: str | None = None
    data_dir: str = ".data"
    log_level: str = "INFO"
    db_pool_min: int = 2
    db_pool_max: int = 20
    # The expiry sweep runs inside each API process unless a separate worker does it.
    expiry_worker: bool = True
    expiry_interval_seconds: float = 5.0
    # The webhook relay runs inside each API process too unless turned off here (the
    # ``bonus worker`` process always runs it); several relays share the work safely.
    webhook_relay: bool = True
    # `bonus worker` serves its own /metrics here (expiry sweeps, webhook deliveries); 0: none.
    worker_metrics_port: int = 9101
    # Partner events (Shopify, ...) are applied from the inbox inside each API process too
    # unless turned off here (``bonus worker`` always applies them); workers share them safely.
    channel_worker: bool = True
    # How long a partner's REST API (a shop's orders) has to answer the channel worker.
    channel_timeout_seconds: float = 10.0
    # How often the channel worker asks partners whose events may be lost (Bitrix24,
    # WooCommerce, RetailCRM) what changed since the last time.
    channel_sweep_interval_seconds: float = 300.0
    webhook_idle_seconds: float = 0.5
    # A segment of a program with more customers than this is counted by an estimate at once
    # and exactly in the background (decision 0022); a smaller program is counted exactly.
    segment_exact_count_customers_max: int = 200_000
    webhook_max_attempts: int = 12
    webhook_backoff_base_seconds: float = 10.0
    webhook_backoff_cap_seconds: float = 3600.0
    webhook_lease_seconds: float = 60.0
    webhook_timeout_seconds: float = 10.0
    # SMS confirmation codes: "console" prints them (development), "http" POSTs them to a
    # gateway at sms_url with sms_token as a bearer token.
    sms_provider: str = "console"
    sms_url: str | None = None
    sms_token: str | None = None
    sms_timeout_seconds: float = 5.0
    # Trigger messages (decision 0023): made and sent by the message relay, inside each API
    # process too unless turned off here (``bonus worker`` always runs it). E-mail: "console"
    # prints it (development), "smtp" sends it through smtp_host:smtp_port with STARTTLS
    # (smtp_starttls=false only for a relay on this machine), logging in when smtp_username is
    # set; smtp_ca_file trusts a private CA. public_url (below) starts the unsubscribe links
    # customers get. The password is a secret: never logged, never shown.
    message_relay: bool = True
    # Campaigns (decision 0024): started and run inside each API process too unless turned off
    # (``bonus worker`` always runs them); workers share them safely. At most this many members
    # a second, read and recorded this many at a time, this many accruals at once.
    campaign_worker: bool = True
    campaign_members_per_second: float = 1000.0
    campaign_batch_members: int = 100
    campaign_accruals_at_once: int = 8
    # The live consistency check (decision 0028): ``bonus worker`` re-verifies what
    # ``bonus reconcile`` checks, this many customer accounts a pass (1 to 5,000) with this
    # pause between passes; workers share one walk over the accounts.
    live_check_accounts_per_pass: int = limits.live_check_accounts_per_pass_default
    live_check_pause_seconds: float = limits.live_check_pause_seconds_default
    message_max_attempts: int = 6
    message_backoff_base_seconds: float = 30.0
    message_backoff_cap_seconds: float = 3600.0
    message_lease_seconds: float = 120.0
    message_timeout_seconds: float = 30.0
    # How often the worker scans for lots about to expire (each is told once per threshold).
    message_scan_interval_seconds: float = 3600.0
    email_provider: str = "console"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "bonus@localhost"
    smtp_starttls: bool = True
    smtp_ca_file: str | None = None
    # Proxies (addresses, CIDRs, or "*") whose X-Forwarded-For names the client: failed
    # authentications are throttled per client address. Passed to uvicorn's forwarded_allow_ips.
    trusted_proxies: str = "127.0.0.1"
    # The HTTP edge, bounded in the server itself (api/edge.py): the request line and headers
    # of one request, in bytes (beyond: 431); seconds from a request's first byte (or the
    # connection's opening) until it is wholly received (beyond: 408 and closed); seconds an idle
    # keep-alive connection stays open; requests one process works on at once (beyond: 503
    # server_busy). A port of its own for /metrics (0: /metrics on the API port).
    http_header_bytes_max: int = 32 * 1024
    http_read_seconds_max: float = 15.0
    http_keep_alive_seconds: int = 5
    http_requests_max: int = 256
    metrics_port: int = 0
    # Development conveniences that production refuses (a placeholder admin key, plain-http
    # webhook receivers on this machine, ...). Unset: development exactly when the embedded
    # servers are used, as `make run` does on a fresh machine; a configured deployment is
    # production unless it says BONUS_DEVELOPMENT=true.
    development: bool | None = None
    # Webhook receivers and partner URLs over plain http, and at loopback or private addresses
    # (10/8, 172.16/12, 192.168/16, fc00::/7, localhost). Unset: allowed exactly in development.
    # Link-local and metadata addresses are refused whatever these say.
    # Keys that seal secrets at rest: "id:base64key,..." (32-byte keys), the current one first;
    # older ones only open what `bonus rotate-secrets` has not re-sealed yet. Unset in
    # development: a key generated once into data_dir/secrets.keys. Required otherwise.
    secrets_keys: str | None = None
    outbound_allow_http: bool | None = None
    outbound_allow_private: bool | None = None
    # Where partners and customers reach this server (https://bonus.example): the Bitrix24
    # application binds its tabs and events to URLs under it (unset: the URL the install call
    # itself came to), and marketing e-mails' unsubscribe links start with it (unset: this
    # server's host and port, fit only for development).
    public_url: str | None = None
    # Apple Wallet pass updates (decision 0029): the wallet worker runs inside each API process
    # too unless turned off here (``bonus worker`` always runs it); it pushes devices through
    # APNs with the team's token key (apns_key_file: the .p8 PEM; its 10-character id and the
    # team id) when the three are set, else devices learn of changes when they poll.
    # apns_ca_file trusts a private CA (tests).
    wallet_worker: bool = True
    apns_url: str = "https://api.push.apple.com"
    apns_key_id: str | None = None
    apns_team_id: str | None = None
    apns_key_file: str | None = None
    apns_ca_file: str | None = None
    apns_timeout_seconds: float = 10.0
    # Our Bitrix24 application at Bitrix24's OAuth server, which refreshes a portal's token pair
    # (docs/decisions/0021); the client secret is sent nowhere else.
    bitrix24_client_id: str = ""
    bitrix24_client_secret: str = ""
    bitrix24_oauth_url: str = "https://oauth.bitrix.info"
    # Google Wallet (docs/decisions/0030): its REST API and the OAuth token endpoint a program's
    # service account gets its access tokens at (tests point both at a fake), and how long
    # either has to answer. The worker patching cards' objects runs inside each API process too
    # unless turned off here (``bonus worker`` always runs it).
    google_wallet_api_url: str = "https://walletobjects.googleapis.com/walletobjects/v1"
    google_wallet_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
    google_wallet_timeout_seconds: float = 10.0
    google_wallet_worker: bool = True

    @property
    def embedded(self) -> bool:
        return self.database_url is None or self.redis_url is None

    @property
    def is_development(self) -> bool:
        return self.embedded if self.development is None else self.development

    @property
    def outbound(self) -> OutboundPolicy:
        development = self.is_development
        http, private = self.outbound_allow_http, self.outbound_allow_private
        return OutboundPolicy(
            allow_http=development if http is None else http,
            allow_private=development if private is None else private,
        )


def admin_key_refusal(settings: Settings) -> str | None:
    """Why the server must not start with this BONUS_ADMIN_KEY, or None. Development takes any
    key, as it takes plain-http webhooks."""
    key = settings.admin_key
    if key is None or settings.is_development:
        return None
    advice = "set a random secret, e.g. BONUS_ADMIN_KEY=$(openssl rand -hex 24)"
    letters = "".join(character for character in key.lower() if character.isalnum())
    if any(marker in letters for marker in admin_key_placeholder_markers):
        return f"BONUS_ADMIN_KEY is a placeholder, not a secret: {advice}"
    if len(key) < admin_key_characters_min:
        return (
            f"BONUS_ADMIN_KEY has {len(key)} characters, fewer than "
            f"{admin_key_characters_min} (admin_key_characters_min): {advice}"
        )
    return None


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    values = {
        name.removeprefix(_prefix).lower(): value
        for name, value in environ.items()
        if name.startswith(_prefix) and value != ""
    }
    known = set(Settings.__struct_fields__)
    return msgspec.convert(
        {name: value for name, value in values.items() if name in known}, Settings, strict=False
    )
