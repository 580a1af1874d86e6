"""Requests and replies of the ``/v1`` API."""

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from schemas.base import (
    Attributes,
    CardNumber,
    Country,
    Currency,
    Document,
    DocumentView,
    Email,
    ExpiryDays,
    KeyPointsPerCall,
    KeyPointsPerDay,
    Locale,
    Name,
    Phone,
    Points,
    Reason,
    Receipt,
    Reply,
    Request,
    SignedPoints,
    StoreId,
    Timestamp,
    TtlSeconds,
    non_space,
    whole,
)
from schemas.certificates import CertificatePaid, CertificatePayments, CertificateRefunded
from schemas.membership import MembershipInForce
from schemas.promo import PromoCodeResult, PromoCodes

Scope = Literal["pos", "shop", "crm", "admin"]


class ProgramCreate(Request, frozen=True, kw_only=True):
    name: Name
    currency: Currency
    country: Country = "RU"
    hold_ttl_seconds_default: TtlSeconds = 900
    hold_ttl_seconds_max: TtlSeconds = 86_400
    expiry_days: ExpiryDays | None = None
    key_points_per_call_max: KeyPointsPerCall = 100_000
    key_points_per_day_max: KeyPointsPerDay = 1_000_000


class Program(Reply, frozen=True, kw_only=True):
    id: UUID
    name: str
    currency: str
    country: str
    hold_ttl_seconds_default: int
    hold_ttl_seconds_max: int
    expiry_days: int | None
    key_points_per_call_max: int
    key_points_per_day_max: int
    created_at: datetime


class ApiKeyCreate(Request, frozen=True, kw_only=True):
    program_id: UUID
    name: Name
    scopes: Annotated[list[Scope], Meta(min_length=1, max_length=4)]
    store_id: StoreId | None = None
    expires_at: Annotated[
        datetime | None,
        msgspec.Meta(
            description="When the key stops working (at most 732 days ahead; a key minted by "
            "an expiring key ends no later than it, and by default when it does)."
        ),
    ] = None
    merchant_id: Annotated[
        UUID | None,
        msgspec.Meta(
            description="The merchant the key belongs to (decision 0026): it then reads "
            "settlement and liability of that merchant only, and operations of its stores; it "
            "has no admin scope, mints keys of its merchant only, and names a store "
            "(`store_id`) of its merchant only."
        ),
    ] = None


class ApiKeyRotate(Request, frozen=True, kw_only=True):
    grace_seconds: Annotated[
        int,
        Meta(
            ge=0,
            le=86_400,
            description="How long the old secret keeps working after the rotation.",
        ),
    ] = 3600


class ApiKey(Reply, frozen=True, kw_only=True):
    id: UUID
    program_id: UUID | None
    name: str
    scopes: list[str]
    store_id: str | None
    created_at: datetime
    created_by: UUID | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    merchant_id: UUID | None = None


class ApiKeyCreated(ApiKey, frozen=True, kw_only=True):
    key: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "The secret, shown in the first response only: it is stored hashed. A replay of "
                "the same request answers with the key's record and `key` null; revoke the key "
                "and create another if the secret was lost."
            )
        ),
    ] = None


class CustomerCreate(Request, frozen=True, kw_only=True):
    phone: Phone
    card_number: CardNumber | None = None
    name: Name | None = None
    email: Email | None = None
    birthday: date | None = None
    attributes: Attributes = msgspec.field(default_factory=dict)
    # The customer who referred this one: both earn the referral bonus after a first purchase.
    referred_by: UUID | None = None
    # The language of their trigger messages; null: the program's default, Russian.
    locale: Locale | None = None
    # The code of the promoter who brought them (decision 0034): their first purchase rewards
    # the promoter. An unknown code is refused (404 promoter_not_found).
    promoter_code: Annotated[str, Meta(min_length=1, max_length=64)] | None = None


class Card(Reply, frozen=True, kw_only=True):
    number: str
    status: str
    reason: str | None = None


class Customer(Reply, frozen=True, kw_only=True):
    id: UUID
    phone: str
    name: str | None
    email: str | None
    # The language of their trigger messages (null: the program's default, Russian).
    locale: str | None
    birthday: date | None
    attributes: dict[str, object]
    cards: list[Card]
    blocked: bool
    blocked_reason: str | None
    created_at: datetime
    # When the customer's personal data was erased (null: never): the id, the account and the
    # ledger stay; the phone reads "erased:<id>".
    erased_at: datetime | None
    # The paid membership in force (active or in grace) and its privileges (decision 0035).
    membership: MembershipInForce | None = None


class CustomerSummary(Reply, frozen=True, kw_only=True):
    """A customer in a program's list: who, since when, blocked or not, and their points
    (``available`` and ``pending`` as the balance counts them)."""

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


class CustomerPage(Reply, frozen=True, kw_only=True):
    items: list[CustomerSummary]
    next_cursor: str | None


class CustomerEdit(Request, frozen=True, kw_only=True):
    """A change of personal data (JSON merge patch): a field left out stays as it is, ``null``
    clears it (not the phone; a cleared ``locale`` is the program's default, Russian),
    ``attributes`` replaces them all. ``reason`` goes to the history."""

    phone: Phone | msgspec.UnsetType = msgspec.UNSET
    name: Name | msgspec.UnsetType | None = msgspec.UNSET
    email: Email | msgspec.UnsetType | None = msgspec.UNSET
    birthday: date | msgspec.UnsetType | None = msgspec.UNSET
    attributes: Attributes | msgspec.UnsetType = msgspec.UNSET
    locale: Locale | msgspec.UnsetType | None = msgspec.UNSET
    reason: Reason | None = None


class CustomerChange(Reply, frozen=True, kw_only=True):
    """A change of a customer's personal data: each field that moved, from what to what."""

    id: UUID
    created_at: datetime
    key_id: UUID | None
    reason: str | None
    changes: dict[str, dict[str, object]]


class CustomerChangePage(Reply, frozen=True, kw_only=True):
    items: list[CustomerChange]
    next_cursor: str | None


ConsentChannel = Literal["sms", "email", "push", "phone"]


class ConsentCreate(Request, frozen=True, kw_only=True):
    """Marketing consent on one channel given (``granted``) or withdrawn, through ``source``
    (``till``, ``web``, ``crm``, ``import``...), to the ``wording`` the customer saw."""

    channel: ConsentChannel
    granted: bool
    source: Annotated[str, Meta(min_length=1, max_length=64, pattern=whole("[a-z0-9_.-]+"))]
    wording: Annotated[str, Meta(min_length=1, max_length=200)] | None = None


class Consent(Reply, frozen=True, kw_only=True):
    id: UUID
    channel: str
    granted: bool
    source: str
    wording: str | None
    key_id: UUID | None
    recorded_at: datetime


class ConsentPage(Reply, frozen=True, kw_only=True):
    """The consent in force on each channel the customer was ever asked about, and a page of
    the log that proves it, newest first."""

    in_force: list[Consent]
    items: list[Consent]
    next_cursor: str | None


class Erase(Request, frozen=True, kw_only=True):
    reason: Reason


class MergeCreate(Request, frozen=True, kw_only=True):
    """Merges customer ``from_customer_id`` (a duplicate record of the same person) into the
    customer the path names, who survives."""

    from_customer_id: UUID
    reason: Reason


class Merge(Reply, frozen=True, kw_only=True):
    """What a merge did: the survivor as it left them, and what moved from the merged customer
    (``operation_id`` on the survivor's statement)."""

    operation_id: UUID
    customer: Customer
    merged_customer_id: UUID
    points: int  # the merged customer's points, each lot with its activation and expiry
    debt: int  # the merged customer's debt, now the survivor's
    lots: int  # how many open lots moved
    created_at: datetime


class CardCreate(Request, frozen=True, kw_only=True):
    number: CardNumber


class StatusChange(Request, frozen=True, kw_only=True):
    reason: Reason


class CardEvent(Reply, frozen=True, kw_only=True):
    status: str
    reason: str | None
    key_id: UUID | None
    created_at: datetime


class CardJournal(Reply, frozen=True, kw_only=True):
    number: str
    customer_id: UUID
    status: str
    reason: str | None
    events: list[CardEvent]


class Expiring(Reply, frozen=True, kw_only=True):
    points: int
    expires_at: datetime


class Balance(Reply, frozen=True, kw_only=True):
    available: int
    reserved: int
    pending: int
    expiring: list[Expiring]
    # Points owed under the "debt" return policy, repaid from later earnings first.
    debt: int = 0


class AccrualCreate(Request, frozen=True, kw_only=True):
    points: Points
    document: Document
    activates_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    card_number: CardNumber | None = None


class AdjustmentCreate(Request, frozen=True, kw_only=True):
    points: SignedPoints
    reason: Reason
    document: Document | None = None

    def __post_init__(self) -> None:
        if self.points == 0:
            raise ValueError("field `points` must not be zero")


class HoldCreate(Request, frozen=True, kw_only=True):
    """``lines``: the receipt the points will pay for. The points must fit what the rules let
    points pay for it, and the hold commits as one purchase (redemption and earning)."""

    points: Points
    document: Document
    ttl_seconds: TtlSeconds | None = None
    card_number: CardNumber | None = None
    lines: Receipt | None = None


class HoldCommit(Request, frozen=True, kw_only=True):
    """``points``: at most the hold's (all of it when omitted; the rest is released).
    ``lines``: the final receipt; with it, or with the hold's own receipt, the commit is one
    purchase operation that also earns on the money paid. ``promo_codes``: each must apply to
    the receipt (else 409 ``promo_code_refused``); a commit without a receipt takes none."""

    points: Points | None = None
    lines: Receipt | None = None
    # Gift certificates paying part of the money (with a receipt only).
    certificates: CertificatePayments | None = None
    promo_codes: PromoCodes = msgspec.field(default_factory=list)


class ReturnLine(Request, frozen=True, kw_only=True):
    line_id: Annotated[str, Meta(min_length=1, max_length=64)]
    quantity: Annotated[int, Meta(ge=1, le=100_000)]


class RefundCreate(Request, frozen=True, kw_only=True):
    """Either ``points`` (omitted: all that is left) or, for a purchase, ``lines`` to return."""

    document: Document
    points: Points | None = None
    lines: Annotated[list[ReturnLine], Meta(min_length=1, max_length=500)] | None = None


class Hold(Reply, frozen=True, kw_only=True):
    id: UUID
    customer_id: UUID
    points: int
    status: Literal["active", "committed", "cancelled", "expired"]
    committed_points: int | None
    expires_at: datetime
    created_at: datetime
    resolved_at: datetime | None
    document_id: str
    operation_id: UUID
    has_receipt: bool = False


class ActiveHold(Reply, frozen=True, kw_only=True):
    """A hold still holding its points: active and within its TTL."""

    id: UUID
    points: int
    expires_at: datetime
    store_id: str | None  # the till's store that reserved it; null for a store-less key
    document_id: str
    created_at: datetime


class ActiveHoldList(Reply, frozen=True, kw_only=True):
    items: list[ActiveHold]  # newest first, at most ``limits.active_holds_max``


class Operation(Reply, frozen=True, kw_only=True):
    id: UUID
    customer_id: UUID
    type: Literal[
        "accrual",
        "purchase",
        "reserve",
        "commit",
        "cancel",
        "refund",
        "expire",
        "adjustment",
        "merge",
        "opening",
        "donation",
    ]
    points: int = msgspec.field()
    status: str
    document: DocumentView | None
    reason: str | None
    channel: str
    key_id: UUID | None
    store_id: str | None
    hold_id: UUID | None
    refund_of: UUID | None
    refunded_points: int
    available_after: int
    created_at: datetime
    rules_version: int | None = None
    # A purchase: the points that paid part of it (its net ``points`` is earned - redeemed),
    # and how many of them its returns gave back. A return: the points it gave back.
    redeemed_points: int = 0
    returned_points: int = 0


class CheckoutLine(Reply, frozen=True, kw_only=True):
    line_id: str
    amount_minor: int
    max_redeemable_points: int
    redeemed_points: int
    money_minor: int
    earned_points: int  # what promo codes give on the line included
    earn_bp: int
    promo_points: int = 0  # of earned_points, what promo codes gave
    promo_discount_minor: int = 0  # the money discount promo codes grant: the till applies it
    certificate_minor: int = 0  # of money_minor, what gift certificates paid: earns nothing
    # The program's discount (decision 0036): the rate applied to the line and what the till
    # takes off it; money_minor is the line after it (and after points).
    program_discount_bp: int = 0
    program_discount_minor: int = 0
    # A member's discount on the line (decision 0035): the till or the shop applies it.
    membership_discount_minor: int = 0


class PricedReceipt(Reply, frozen=True, kw_only=True):
    """A receipt as a purchase priced it: what points paid, what the money earned."""

    tier: str | None
    tier_after: str | None
    rules_version: int
    amount_minor: int
    redeemed_points: int
    money_minor: int
    earned_points: int
    debt_repaid: int
    activates_at: datetime | None
    expires_at: datetime | None
    lines: list[CheckoutLine]
    promo_codes: list[PromoCodeResult] = msgspec.field(
        default_factory=list
    )  # the promo codes it applied
    # Of money_minor, what gift certificates paid, and what each paid and holds after.
    certificate_minor: int = 0
    certificates: list[CertificatePaid] = msgspec.field(default_factory=list)
    # Of amount_minor, what the program's discount took off (decision 0036).
    program_discount_minor: int = 0
    # The paid membership it was priced with, while active or in grace (decision 0035).
    membership: MembershipInForce | None = None


class Commit(Operation, frozen=True, kw_only=True):
    """The committed hold's operation: a ``commit``, or a ``purchase`` with its ``receipt``."""

    receipt: PricedReceipt | None = None


class ReturnedLine(Reply, frozen=True, kw_only=True):
    line_id: str
    quantity: int
    earned_points: int
    redeemed_points: int
    money_minor: int  # what was paid for this part: its price after the program's discount
    certificate_minor: int = 0  # of money_minor, what goes back to gift certificates
    program_discount_minor: int = 0  # what the program's discount had taken off this part


class Refund(Operation, frozen=True, kw_only=True):
    """The refund operation, and how it settled."""

    points_returned: int = 0
    points_clawed_back: int = 0
    debt_points: int = 0
    withhold_minor: int = 0
    tier_after: str | None = None
    lines: list[ReturnedLine] = msgspec.field(default_factory=list)
    # What went back to the gift certificates that paid for the returned lines.
    certificate_minor: int = 0
    certificates: list[CertificateRefunded] = msgspec.field(default_factory=list)
    # A return by line: the money paid for the returned lines (the price after the program's
    # discount, less points) — what the till gives back, less certificate_minor and any
    # withhold_minor — and what the discount had taken off them (decision 0036).
    money_minor: int = 0
    program_discount_minor: int = 0


class OperationPage(Reply, frozen=True, kw_only=True):
    items: list[Operation]
    next_cursor: str | None


class ExpirationReport(Reply, frozen=True, kw_only=True):
    expired_lots: int
    expired_points: int
    expired_holds: int
    # Gift certificates closed at their expiry, and the money they burned to breakage.
    expired_certificates: int = 0
    burned_minor: int = 0


class Health(Reply, frozen=True, kw_only=True):
    status: str
    postgres: str | None = None
    redis: str | None = None


class Problem(Reply, frozen=True, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details with a stable machine ``code``."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    field: str | None = None
    customer_id: str | None = None
    operation_id: str | None = None
    hold_id: str | None = None


EventType = Literal[
    "purchase.recorded",
    "points.accrued",
    "points.redeemed",
    "points.refunded",
    "points.expired",
    "points.adjusted",
    "hold.reserved",
    "hold.cancelled",
    "hold.expired",
    "tier.changed",
    "balance.changed",
    "customer.merged",
    "certificate.sold",
    "certificate.redeemed",
    "certificate.refunded",
    "certificate.expired",
    "membership.started",
    "membership.renewed",
    "membership.lapsing",
    "membership.lapsed",
    "membership.cancelled",
]


class WebhookCreate(Request, frozen=True, kw_only=True):
    """A subscription to a program's events; ``event_types`` empty or omitted: every event."""

    url: Annotated[str, Meta(pattern=whole(rf"https?://{non_space}+"), max_length=2000)]
    event_types: Annotated[list[EventType], Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )


class Webhook(Reply, frozen=True, kw_only=True):
    id: UUID
    program_id: UUID
    url: str
    event_types: list[str]
    active: bool
    created_at: datetime


class WebhookCreated(Webhook, frozen=True, kw_only=True):
    """The new subscription with its signing secret, shown this once (a replay shows null)."""

    secret: str | None


class WebhookDelivery(Reply, frozen=True, kw_only=True):
    id: int
    subscription_id: UUID
    event_id: UUID
    type: str
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class WebhookDeliveryPage(Reply, frozen=True, kw_only=True):
    items: list[WebhookDelivery]
    next_cursor: str | None


class Redelivery(Reply, frozen=True, kw_only=True):
    id: int
    status: Literal["pending"]


# The operator's lists: programs, keys, partner connections and their inbox, a page at a time.


class ProgramPage(Reply, frozen=True, kw_only=True):
    items: list[Program]
    next_cursor: str | None


class ApiKeyPage(Reply, frozen=True, kw_only=True):
    """A program's keys; a secret or its hash is never shown again after the key was made."""

    items: list[ApiKey]
    next_cursor: str | None


class PartnerConnection(Reply, frozen=True, kw_only=True):
    """A program's link to a partner account; its secrets and settings are never shown."""

    id: UUID
    program_id: UUID
    partner: str
    account: str
    key_id: UUID
    active: bool
    created_at: datetime


class PartnerConnectionPage(Reply, frozen=True, kw_only=True):
    items: list[PartnerConnection]
    next_cursor: str | None


class InboxEvent(Reply, frozen=True, kw_only=True):
    """A partner's event in a connection's inbox: pending (due at ``next_attempt_at``), done,
    or dead after its last attempt (``last_error`` says why), which an operator may retry."""

    id: int
    connection_id: UUID
    event_key: str
    topic: str
    status: Literal["pending", "done", "dead"]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    received_at: datetime
    processed_at: datetime | None
    payload_excerpt: Annotated[
        str,
        Meta(
            description="The payload as JSON text, cut after its first 2000 characters "
            "(``payload_truncated`` says so)."
        ),
    ]
    payload_truncated: bool


class InboxEventPage(Reply, frozen=True, kw_only=True):
    items: list[InboxEvent]
    next_cursor: str | None


class Bitrix24InstallLink(Reply, frozen=True, kw_only=True):
    """A one-time link a Bitrix24 portal's administrator gives our application as its install
    handler; the token in it is shown in this answer only (a replay answers null)."""

    program_id: UUID
    install_url: str | None
    expires_at: datetime


class Bitrix24Installed(Reply, frozen=True, kw_only=True):
    """A portal installed (or reinstalled) on the link's program."""

    connection_id: UUID
    program_id: UUID
    member_id: str
    domain: str
    reinstalled: bool
    offline_events: bool


class Bitrix24AppEventReceived(Reply, frozen=True, kw_only=True):
    received: bool
