"""What the service returns and receives: commands from callers and read models for them.

These are plain values. The API maps them to and from its wire schemas; nothing here knows HTTP.
"""

from datetime import date, datetime
from typing import Any
from uuid import UUID

import msgspec

from processing.core import limits
from processing.core.membership import InForce, Membership, in_force, with_privileges
from processing.core.messages import Template
from processing.core.rejections import Rejection
from processing.core.reports import Grouping, Period, PointFigures, TypeSums
from processing.core.returns import ReturnedLine
from processing.core.rules import Rules, Tier, tier_for
from processing.core.settlement import PartyTotal


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling: the API key, its program (None for an operator key) and its scopes."""

    key_id: UUID
    program_id: UUID | None
    scopes: frozenset[str]
    store_id: str | None
    expires_at: datetime | None = None
    # A merchant's key reads settlement, liability and operations of its merchant only.
    merchant_id: UUID | None = None

    @property
    def channel(self) -> str:
        for scope in ("pos", "shop", "crm", "admin"):
            if scope in self.scopes:
                return scope
        return "admin"


class Document(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str | None = None
    comment: str | None = None


class Accepted(msgspec.Struct, frozen=True, kw_only=True):
    value: Any
    created: bool = False
    # Points this outcome moved, counted in metrics once its transaction has committed.
    movement: str | None = None
    points: int = 0
    # Further movements of the same transaction (a referral bonus inside a purchase, say).
    more_movements: tuple[tuple[str, int], ...] = ()


class Refused(msgspec.Struct, frozen=True, kw_only=True):
    """A rejection on its way to the caller, with anything the caller needs to act on it."""

    rejection: Rejection
    detail: str
    field: str | None = None
    extra: dict[str, str] | None = None


def refuse(rejection: Rejection, detail: str, *, field: str | None = None, **extra: str) -> Refused:
    return Refused(rejection=rejection, detail=detail, field=field, extra=extra or None)


Outcome = Accepted | Refused


class StoredResponse(msgspec.Struct, frozen=True, kw_only=True):
    """The bytes an idempotent request answered with; a replay answers with the same bytes.

    ``kept_body``, when set, is what the idempotency record keeps instead of ``body``: a reply
    that shows a secret once keeps a copy without it, so no secret is ever stored in clear."""

    status_code: int
    media_type: str
    body: bytes
    replayed: bool = False
    outcome: str = "ok"
    kept_body: bytes | None = None


class ProgramSettings(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    currency: str
    country: str = "RU"
    hold_ttl_seconds_default: int = limits.hold_ttl_seconds_default
    hold_ttl_seconds_max: int = limits.hold_ttl_seconds_max_default
    expiry_days: int | None = None
    key_points_per_call_max: int = limits.key_points_per_call_max_default
    key_points_per_day_max: int = limits.key_points_per_day_max_default


class ProgramRecord(ProgramSettings, frozen=True, kw_only=True):
    id: UUID
    created_at: datetime


class ApiKeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    program_id: UUID | None
    name: str
    scopes: list[str]
    store_id: str | None
    created_at: datetime
    created_by: UUID | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    key: str | None = None
    merchant_id: UUID | None = None


class CardRecord(msgspec.Struct, frozen=True, kw_only=True):
    number: str
    status: str
    reason: str | None = None


class CustomerRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    program_id: UUID
    phone: str
    name: str | None
    birthday: date | None
    attributes: dict[str, Any]
    cards: list[CardRecord]
    blocked: bool
    blocked_reason: str | None
    created_at: datetime
    email: str | None = None
    erased_at: datetime | None = None
    locale: str | None = None  # their messages' language; None: the program's default (ru)
    membership: InForce | None = None  # the paid membership in force (decision 0035)


class MergeRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A merge as its caller sees it: the survivor as the merge left them, which customer was
    merged into them, and what moved (the operation on the survivor's statement)."""

    operation_id: UUID
    customer: CustomerRecord
    merged_customer_id: UUID
    points: int
    debt: int
    lots: int
    created_at: datetime


class ConsentRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of a customer's consent log: a channel granted or withdrawn, through what,
    to which wording, by which key and when."""

    id: UUID
    channel: str
    granted: bool
    source: str
    wording: str | None
    key_id: UUID | None
    recorded_at: datetime


class ConsentPage(msgspec.Struct, frozen=True, kw_only=True):
    """The consent in force on each channel asked about so far, and a page of the log."""

    in_force: list[ConsentRecord]
    items: list[ConsentRecord]
    next_cursor: str | None


class CustomerChangeRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One change of a customer's personal data: each field moved, ``{"from": .., "to": ..}``,
    when, by which key and why."""

    id: UUID
    created_at: datetime
    key_id: UUID | None
    reason: str | None
    changes: dict[str, dict[str, Any]]


class CustomerChangePage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[CustomerChangeRecord]
    next_cursor: str | None


class Position(msgspec.Struct, frozen=True, kw_only=True):
    """Where a page of a list starts: items strictly older than (``at``, ``id``)."""

    at: datetime
    id: UUID


class CustomerFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What narrows a program's customer list; None: not asked. The phone is E.164 by now."""

    phone: str | None = None
    card: str | None = None
    name_prefix: str | None = None
    tier_floor: str | None = None
    tier: str | None = None  # the tier in force under the program's current rules
    blocked: bool | None = None
    available_min: int | None = None
    available_max: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


class TierBand(msgspec.Struct, frozen=True, kw_only=True):
    """The money a tier spans under one version of the rules: from its threshold up to the next
    tier's (none above the top), over the rules' window, with every tier's threshold so that a
    manual tier (a floor) counts as its own."""

    low_minor: int
    high_minor: int | None
    window_days: int
    names: list[str]
    thresholds_minor: list[int]


class CustomerListItem(msgspec.Struct, frozen=True, kw_only=True):
    """A customer as the list shows them: who, since when, blocked or not, and their points."""

    id: UUID
    phone: str
    name: str | None
    birthday: date | None
    created_at: datetime
    tier_floor: str | None
    blocked: bool
    blocked_reason: str | None
    available: int
    pending: int
    reserved: int
    debt: int


class CustomerPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[CustomerListItem]
    next_cursor: str | None


class CardEventRecord(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    reason: str | None
    key_id: UUID | None
    created_at: datetime


class CardJournal(msgspec.Struct, frozen=True, kw_only=True):
    number: str
    customer_id: UUID
    status: str
    reason: str | None
    events: list[CardEventRecord]


class HoldRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    customer_id: UUID
    points: int
    committed_points: int | None
    status: str
    expires_at: datetime
    created_at: datetime
    resolved_at: datetime | None
    document_id: str
    operation_id: UUID
    has_receipt: bool = False  # committed as a purchase, with the receipt it was reserved for


class ActiveHold(msgspec.Struct, frozen=True, kw_only=True):
    """A customer's hold still holding its points: what the console's card lists."""

    id: UUID
    points: int
    expires_at: datetime
    store_id: str | None
    document_id: str
    created_at: datetime


class DocumentHold(msgspec.Struct, frozen=True, kw_only=True):
    """A hold a CRM's document reserved, with what its commit spent and refunds gave back."""

    id: UUID
    document_id: str
    status: str
    points: int
    committed_points: int | None
    committed_by: UUID | None  # the operation that committed it
    given_back: int  # points refunds of that operation gave back

    @property
    def spent(self) -> int:
        """Points this hold spent that are still spent."""
        if self.status != "committed" or self.committed_points is None:
            return 0
        return self.committed_points - self.given_back


class OperationRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    customer_id: UUID
    type: str
    points: int
    refunded_points: int
    status: str
    document: Document | None
    reason: str | None
    channel: str
    key_id: UUID | None
    store_id: str | None
    hold_id: UUID | None
    refund_of: UUID | None
    available_after: int
    created_at: datetime
    seq: int = 0
    rules_version: int | None = None
    redeemed_points: int = 0
    returned_points: int = 0


class CertificateRefund(msgspec.Struct, frozen=True, kw_only=True):
    """What a return gave back to one gift certificate, and what it holds after (decision
    0033)."""

    number: str
    amount_minor: int
    balance_after: int


class RefundRecord(OperationRecord, frozen=True, kw_only=True):
    """A refund operation with how it settled: points given back (a redemption refunded),
    points clawed back (an accrual or purchase refunded), and for a return by line the shortfall
    the return policy settled, the tier after it and the lines it took back."""

    points_returned: int = 0
    points_clawed_back: int = 0
    debt_points: int = 0
    withhold_minor: int = 0
    tier_after: str | None = None
    lines: tuple[ReturnedLine, ...] = ()
    # Of the returned lines' money, what goes back to the gift certificates that paid it.
    certificate_minor: int = 0
    # The returned lines' money (the price after the program's discount, less points) and
    # what the program's discount had taken off them (decision 0036).
    money_minor: int = 0
    program_discount_minor: int = 0
    certificates: tuple[CertificateRefund, ...] = ()


class StatementPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[OperationRecord]
    next_cursor: str | None


class SweepReport(msgspec.Struct, frozen=True, kw_only=True):
    expired_lots: int = 0
    expired_points: int = 0
    expired_holds: int = 0
    # Gift certificates closed at their expiry, and the money they burned to breakage.
    expired_certificates: int = 0
    burned_minor: int = 0


class ReconcileReport(msgspec.Struct, frozen=True, kw_only=True):
    accounts_checked: int
    differences: list[str]

    @property
    def clean(self) -> bool:
        return not self.differences


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    """What the customer's tier is computed from: the money paid over the rules' tier window
    (less what returns gave back) and the manual tier that acts as a floor."""

    spend_minor: int
    tier_floor: str | None
    # The paid membership in force as last written (decision 0035): its privileges follow its
    # dates (``privileges``), whatever the sweep last wrote.
    membership: Membership | None = None

    def tier(self, rules: Rules, extra_spend_minor: int = 0) -> Tier | None:
        return tier_for(rules, self.spend_minor + extra_spend_minor, self.tier_floor)

    def privileges(self, now: datetime) -> InForce | None:
        return in_force(self.membership, now)

    def priced_rules(self, rules: Rules, now: datetime) -> Rules:
        """The rules a receipt of this customer is priced with: a member's earning rate in."""
        return with_privileges(rules, self.privileges(now))


class RulesRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a program's rules; version 0 is the defaults of a program never given any."""

    program_id: UUID
    version: int
    rules: Rules
    created_at: datetime | None


class WebhookRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    program_id: UUID
    url: str
    event_types: list[str]
    active: bool
    created_at: datetime
    secret: str | None = None  # shown once, in the answer that created the subscription


class WebhookPlaces(msgspec.Struct, frozen=True, kw_only=True):
    """What a subscribe decides on: the program's active subscriptions (the cap), the row
    version its write checks, and the database clock that stamps the new subscription."""

    version: int
    active: int
    now: datetime


class DeliveryRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    subscription_id: UUID
    event_id: UUID
    type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DeliveryRecord]
    next_cursor: str | None


class LeasedDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery a relay holds for its lease: everything needed to send it."""

    id: int
    attempts: int  # including this one
    url: str
    secret: str
    event_id: UUID
    type: str
    program_id: UUID
    payload: str  # the outbox event's JSON
    created_at: datetime


class Connection(msgspec.Struct, frozen=True, kw_only=True):
    """A program's link to one partner account: a Bitrix24 portal (its domain), a
    RetailCRM account (its URL), a Shopify shop (its domain), a WooCommerce site (its
    URL). The channel acts as its own API key (``Channels.actor``), so its idempotency keys are
    its own. Its partner's terms (scope, secrets) are in ``partners/registry.py``."""

    id: UUID
    program_id: UUID
    partner: str
    account: str
    key_id: UUID
    secrets: dict[str, str]  # never shown back: tokens, API keys, signing secrets
    settings: dict[str, Any]  # base URLs, field codes, status codes, rates
    active: bool = True


class LeasedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An inbox event as leased for one attempt (``attempts`` counts this one)."""

    id: int
    connection_id: UUID
    event_key: str
    topic: str
    payload: Any
    attempts: int


# The operator's lists: programs, keys, partner connections and their inbox, a page at a time.


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a list, newest first, and the cursor of the next (None: this is the last)."""

    items: list[Any]
    next_cursor: str | None


class ConnectionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A partner connection as an operator sees it: never its secrets, nor its settings (a
    partner's URL there may carry a credential)."""

    id: UUID
    program_id: UUID
    partner: str
    account: str
    key_id: UUID
    active: bool
    created_at: datetime


class InboxEventRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An inbox event as an operator sees it: where it stands, why it last failed, and the
    start of its payload (JSON text, cut at a bound; ``payload_truncated`` says so)."""

    id: int
    connection_id: UUID
    event_key: str
    topic: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    received_at: datetime
    processed_at: datetime | None
    payload_excerpt: str
    payload_truncated: bool


class StoredTemplate(msgspec.Struct, frozen=True, kw_only=True):
    """What the database holds for a program's message of one kind: the program's name (a
    variable of the text) and its own template, or ``None`` for the built-in default."""

    program_name: str
    template: Template | None
    updated_at: datetime | None


class TemplateProgram(msgspec.Struct, frozen=True, kw_only=True):
    """What a template's replacement decides on: the program's name (a variable the template is
    checked with) and the database clock that stamps the replacement."""

    program_name: str
    now: datetime


class SmsSendFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What a code's send decides on: the customer's phone and block, the codes sent to them
    within the rate limit's window, the account row's version the send's write checks, the
    program's own code template (``None`` for the default) with its name, and the database
    clock."""

    program_id: UUID
    phone: str
    blocked: bool
    recent: int
    version: int
    program_name: str
    template: Template | None
    now: datetime


class NewSmsCheck(msgspec.Struct, frozen=True, kw_only=True):
    """A check a send writes: only the HMAC of its code, under the key ``code_key_id`` names."""

    id: UUID
    program_id: UUID
    code_hmac: bytes
    code_key_id: str
    created_at: datetime
    expires_at: datetime
    store_id: str | None  # the store of the till that asked for it


class SmsCheckRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An SMS confirmation check as a confirmation decides on it: with its row version, which
    its writes check, and the database clock."""

    id: UUID
    customer_id: UUID
    code_hmac: bytes | None  # HMAC-SHA256 under the key ``code_key_id`` names
    code_key_id: str | None
    code_sha256: bytes | None  # a check from before keyed codes, alive at most its TTL
    attempts: int
    verified: bool
    expired: bool  # past its TTL, or never sent
    version: int
    now: datetime


class SegmentRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A segment as its newest version reads."""

    id: UUID
    program_id: UUID
    version: int
    name: str
    filter: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class TriggerTemplate(msgspec.Struct, frozen=True, kw_only=True):
    """A trigger's wording on one channel in one locale (Jinja2, sandboxed); e-mail has a
    subject."""

    channel: str
    locale: str = "ru"
    subject: str | None = None
    body: str


class CampaignMessages(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign's messages by state; ``suppressed`` counts by the reason."""

    queued: int = 0
    sent: int = 0
    failed: int = 0
    suppressed: dict[str, int] = {}


class CampaignRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A bulk bonus accrual and/or message over a segment's snapshot (decision 0024), with its
    progress: ``members`` is null until the snapshot is taken; ``skipped`` counts by the
    reason; ``messaged`` are the members of a campaign without points whose message event is
    written; ``messages`` what became of the messages made."""

    id: UUID
    program_id: UUID
    segment_id: UUID
    key_id: UUID
    name: str
    points: int | None
    expires_at: datetime | None
    expiry_days: int | None
    reason: str
    starts_at: datetime
    state: str
    created_at: datetime
    templates: list[TriggerTemplate] = []
    members: int | None = None
    pending: int = 0
    accrued: int = 0
    messaged: int = 0
    failed: int = 0
    skipped: dict[str, int] = {}
    messages: CampaignMessages = CampaignMessages()
    started_at: datetime | None = None
    finished_at: datetime | None = None


class SettledMember(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign member's outcome once the ledger answered: ``accrued`` with the operation,
    or ``skipped`` with the refusal's code."""

    customer_id: UUID
    state: str
    why: str | None = None
    operation_id: UUID | None = None


class SegmentVersionRecord(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    name: str
    filter: dict[str, Any]
    key_id: UUID | None
    created_at: datetime


class SegmentCountRecord(msgspec.Struct, frozen=True, kw_only=True):
    segment_id: UUID
    version: int
    estimate: int
    exact: int | None
    counted_at: datetime | None


class SegmentMemberRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    phone: str
    name: str | None
    available: int
    pending: int
    expiring: int
    expiring_days: int
    tier: str | None
    created_at: datetime


class MessageSettingsRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A program's messaging settings: the zone its quiet hours (local minutes after midnight)
    are read in, and the marketing messages per customer, channel and local day."""

    time_zone: str = "Europe/Moscow"
    quiet_start_minute: int = 21 * 60
    quiet_end_minute: int = 9 * 60
    daily_cap: int = 3
    updated_at: datetime | None = None


class TriggerRecord(msgspec.Struct, frozen=True, kw_only=True):
    trigger: str
    enabled: bool
    kind: str
    templates: list[TriggerTemplate]
    version: int
    updated_at: datetime | None
    days_before: int | None = None


class BirthdayTrigger(msgspec.Struct, frozen=True, kw_only=True):
    program_id: UUID
    days_before: int | None
    time_zone: str
    now: datetime


class MessageEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An outbox event a trigger of its program wants, not yet turned into messages."""

    id: int
    event_key: str  # outbox:{id}, or lot:{id}:{days}d for a scan's
    program_id: UUID
    type: str
    payload: str


class MessageFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the messages of one event are rendered and decided with."""

    customer_id: UUID
    name: str | None
    phone: str
    email: str | None
    birthday: date | None
    erased: bool
    locale: str | None  # the customer's; None: the program's default
    program_name: str
    balance: int
    expires_at: datetime | None
    consents: str | None  # JSON: channel -> granted, the consent in force
    time_zone: str
    quiet_start_minute: int
    quiet_end_minute: int
    daily_cap: int
    now: datetime


class NewMessage(msgspec.Struct, frozen=True, kw_only=True):
    program_id: UUID
    customer_id: UUID
    channel: str
    kind: str
    trigger: str
    event_key: str
    template_version: int
    locale: str
    recipient: str | None
    subject: str | None
    body: str
    state: str
    reason: str | None
    next_attempt_at: datetime
    campaign_id: UUID | None = None


class LeasedMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A message leased for one attempt, with what its quiet hours are read with: its
    program's zone and quiet window now, and the database clock."""

    id: int
    program_id: UUID
    customer_id: UUID
    channel: str
    kind: str
    recipient: str | None
    subject: str | None
    body: str
    attempts: int
    time_zone: str
    quiet_start_minute: int
    quiet_end_minute: int
    now: datetime


class RetryFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What a failed attempt's next one is timed with: the program's zone and quiet window now,
    and the database clock."""

    time_zone: str
    quiet_start_minute: int
    quiet_end_minute: int
    now: datetime


class MessageRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    channel: str
    kind: str
    trigger: str
    event_key: str
    template_version: int
    locale: str
    recipient: str | None  # as stored when it was made; the console shows it, the API does not
    subject: str | None
    body: str
    state: str
    reason: str | None
    attempts: int
    next_attempt_at: datetime
    provider_id: str | None
    created_at: datetime
    sent_at: datetime | None


class MessagePage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[MessageRecord]
    next_cursor: str | None


class RenderedMessage(msgspec.Struct, frozen=True, kw_only=True):
    channel: str
    locale: str
    subject: str | None
    body: str


class MerchantRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A merchant of a program: a legal entity with stores (decision 0026)."""

    id: UUID
    program_id: UUID
    name: str
    legal_name: str | None
    tax_id: str | None
    created_at: datetime


class MerchantStoreRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A store's assignment to a merchant, from ``assigned_at`` until ``unassigned_at`` (null:
    it still belongs to the merchant)."""

    id: UUID
    merchant_id: UUID
    program_id: UUID
    store_id: str
    assigned_at: datetime
    unassigned_at: datetime | None


class SettlementRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A closed settlement statement: the period [``period_from``, ``period_to``) of the
    program's local days, its bounds, and each party's totals (empty in a list of statements)."""

    id: UUID
    program_id: UUID
    period_from: date
    period_to: date
    time_zone: str
    starts_at: datetime
    ends_at: datetime
    currency: str
    lines: int
    key_id: UUID | None
    created_at: datetime
    totals: list[PartyTotal]


class SettlementLineRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored line of a statement, at its position."""

    position: int
    operation_id: UUID
    operation_type: str
    refund_of: UUID | None
    created_at: datetime
    store_id: str | None
    merchant_id: UUID | None
    earning_store_id: str | None
    earning_merchant_id: UUID | None
    points: int
    point_value_minor: int
    money_minor: int


class LiabilityItem(msgspec.Struct, frozen=True, kw_only=True):
    merchant_id: UUID | None
    merchant_name: str | None
    points: int
    money_minor: int


class LiabilityRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Outstanding points by the party that earned them, valued at the current rules' point
    value, as of the database clock."""

    program_id: UUID
    currency: str
    rules_version: int
    point_value_minor: int
    items: list[LiabilityItem]


class ReportPointsRow(TypeSums, frozen=True, kw_only=True):
    """One operation type's rollup sums in one period (and store or channel, when grouped)."""

    period: date
    store_id: str | None
    channel: str | None


class LiabilityRow(msgspec.Struct, frozen=True, kw_only=True):
    """Points outstanding at a day's end that were earned at one store ('' for none)."""

    lot_store_id: str
    outstanding: int
    pending: int


class ReportClock(msgspec.Struct, frozen=True, kw_only=True):
    """A program's today in its time zone, and the moment before which every operation is in
    the rollups."""

    today: date
    complete_before: datetime


class PointsReportRow(PointFigures, frozen=True, kw_only=True):
    """A period's figures (in one store or channel, when grouped)."""

    period: date
    store_id: str | None = None
    channel: str | None = None


class PointsTotals(PointFigures, frozen=True, kw_only=True):
    """The window's figures with its rates: expired and redeemed over issued."""

    breakage_bp: int | None
    redemption_bp: int | None


class PointsReport(msgspec.Struct, frozen=True, kw_only=True):
    program_id: UUID
    first: date
    last: date
    period: Period
    grouping: Grouping
    complete_before: datetime
    rows: list[PointsReportRow]
    totals: PointsTotals


class LiabilityFigures(msgspec.Struct, frozen=True, kw_only=True):
    outstanding_points: int
    pending_points: int
    available_points: int
    outstanding_value_minor: int


class StoreLiability(LiabilityFigures, frozen=True, kw_only=True):
    store_id: str | None  # where the points were earned; None for none (a bonus, an import)


class LiabilityReport(LiabilityFigures, frozen=True, kw_only=True):
    program_id: UUID
    on: date
    currency: str
    point_value_minor: int
    complete_before: datetime
    stores: list[StoreLiability]


class PurchaseSumsRow(msgspec.Struct, frozen=True, kw_only=True):
    """The purchase rollups summed over a period (and store or channel, when grouped)."""

    period: date
    store_id: str | None
    channel: str | None
    purchases: int
    amount_minor: int
    money_minor: int
    returns: int
    returned_money_minor: int
    program_discount_minor: int = 0  # the program's discount the purchases gave (0036)


class CustomerCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Distinct customers in the ``n``-th window asked for: with an operation of their own,
    with a purchase, with two or more."""

    n: int
    active: int
    purchased: int
    repeated: int


class MemberDayRow(msgspec.Struct, frozen=True, kw_only=True):
    """Members who joined and left on a day (None: before the window)."""

    day: date | None
    joined: int
    left: int


class TierMembers(msgspec.Struct, frozen=True, kw_only=True):
    tier: str | None  # None: no tier announced for them
    members: int


class TierMove(msgspec.Struct, frozen=True, kw_only=True):
    tier_before: str | None
    tier_after: str | None
    customers: int


class PurchaseFigures(msgspec.Struct, frozen=True, kw_only=True):
    purchases: int
    amount_minor: int  # the receipts' total
    money_minor: int  # what was paid in money
    average_check_minor: int | None  # amount / purchases, rounded half up
    # (amount - discount - money) / (amount - discount): the part of the price after the
    # program's discount that points paid
    points_share_bp: int | None
    returns: int
    returned_money_minor: int
    program_discount_minor: int = 0  # what the program's discount took off (decision 0036)
    # Customers counted once: known per period when the report is not grouped, and always for
    # the window's totals.
    purchasing_customers: int | None
    repeat_customers: int | None  # two or more purchases in the period
    repeat_rate_bp: int | None


class PurchasesReportRow(PurchaseFigures, frozen=True, kw_only=True):
    period: date
    store_id: str | None = None
    channel: str | None = None


class PurchasesReport(msgspec.Struct, frozen=True, kw_only=True):
    program_id: UUID
    first: date
    last: date
    period: Period
    grouping: Grouping
    complete_before: datetime
    rows: list[PurchasesReportRow]
    totals: PurchaseFigures


class MemberFigures(msgspec.Struct, frozen=True, kw_only=True):
    new_members: int  # enrolled in the period
    members: int  # at the period's end: enrolled, not merged into another, not erased
    active_members: int  # with an operation of their own in the period


class MembersReportRow(MemberFigures, frozen=True, kw_only=True):
    period: date


class MembersReport(msgspec.Struct, frozen=True, kw_only=True):
    program_id: UUID
    first: date
    last: date
    period: Period
    complete_before: datetime
    rows: list[MembersReportRow]
    totals: MemberFigures
    tiers: list[TierMembers]  # at the window's end
    tier_moves: list[TierMove]  # within the window


class ProgramGauges(msgspec.Struct, frozen=True, kw_only=True):
    """A program's figures for Prometheus, read from the report rollups."""

    program_id: UUID
    outstanding_points: int
    active_customers: int


class PromoCampaignRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A promo campaign (decision 0032) as stored, with its usage: uses counted at purchase,
    the points and discount its codes gave, and how many codes it has."""

    id: UUID
    program_id: UUID
    key_id: UUID
    name: str
    starts_at: datetime
    ends_at: datetime | None
    channels: list[str]
    stores: list[str]
    min_amount_minor: int
    skus: list[str]
    categories: list[str]
    effect: str
    value: int
    uses_max: int | None
    uses_per_customer_max: int | None
    stacking: str
    created_at: datetime
    ended_at: datetime | None = None  # ended early: its codes work until then
    used: int = 0
    points_given: int = 0
    discount_minor: int = 0
    customers: int = 0
    codes: int = 0


class PromoCodeRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    campaign_id: UUID
    code: str
    kind: str  # shared, batch, personal
    customer_id: UUID | None
    uses_max: int | None
    used: int
    created_at: datetime

    @property
    def state(self) -> str:
        """unused, used (and usable again), or exhausted (its cap reached)."""
        if self.uses_max is not None and self.used >= self.uses_max:
            return "exhausted"
        return "used" if self.used else "unused"


class PromoCodesMade(msgspec.Struct, frozen=True, kw_only=True):
    campaign_id: UUID
    created: int
    codes: list[PromoCodeRecord]


class CharityRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A charity the program names (decision 0034): its account shares its id; what it
    received in all is the sum of that account's entries."""

    id: UUID
    program_id: UUID
    name: str
    details: str | None
    created_at: datetime
    received_points: int = 0


class CharityTotals(msgspec.Struct, frozen=True, kw_only=True):
    """What a charity received over a period: points, distinct customers, donations."""

    points: int
    donors: int
    donations: int


class CharityReport(msgspec.Struct, frozen=True, kw_only=True):
    charity_id: UUID
    name: str
    starts_at: datetime
    ends_at: datetime
    points: int
    donors: int
    donations: int


class DonationRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A donation made: the ledger operation, the charity it gave to, and what the customer has
    left to spend."""

    operation_id: UUID
    customer_id: UUID
    charity_id: UUID
    points: int
    available_after: int
    created_at: datetime


class PromoterRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A promoter (decision 0034): its customer record (where its rewards land and its SMS
    go), its code and terms, the program's enrollment page slug (its link), and what it
    brought: customers attributed, rewards standing and their points."""

    id: UUID
    program_id: UUID
    customer_id: UUID
    name: str
    code: str
    reward_points: int
    reward_share_bp: int
    created_at: datetime
    slug: str | None = None
    customers: int = 0
    rewards: int = 0
    rewarded_points: int = 0


class PromoterFacts(msgspec.Struct, frozen=True, kw_only=True):
    customer_found: bool
    code_taken: bool
    now: datetime
    slug: str | None = None


class PromoterDue(msgspec.Struct, frozen=True, kw_only=True):
    """The promoter a first purchase rewards: its id, customer record and terms."""

    id: UUID
    customer_id: UUID
    reward_points: int
    reward_share_bp: int


class PromoterReward(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: UUID
    program_id: UUID
    promoter_id: UUID
    purchase_operation_id: UUID
    reward_operation_id: UUID
    reward_lot_id: UUID
    points: int


class RewardDue(msgspec.Struct, frozen=True, kw_only=True):
    """A reward whose purchase was returned in full, to claw back."""

    customer_id: UUID
    promoter_id: UUID
    promoter_customer_id: UUID
    reward_operation_id: UUID
    reward_lot_id: UUID
    points: int
