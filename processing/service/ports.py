"""The ports the service needs, declared here and implemented by adapters.

The service talks to Postgres through ``Database``/``Store`` and to Redis through
``AccountLocks``; it never imports an adapter.
"""

import enum
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

import msgspec

from processing.core import limits
from processing.core.certificates import Certificate, Redemption
from processing.core.checkout import Calculation, LineResult
from processing.core.google_wallet import GoogleWalletSettings
from processing.core.membership import Level, Membership
from processing.core.merges import MergeSide
from processing.core.messages import MessageKind, Template
from processing.core.model import Account, Hold, HoldStatus, Lot, Operation, Posting
from processing.core.outbound import FailureClass
from processing.core.promo import Code as PromoCode
from processing.core.promo import PromoResult
from processing.core.returns import ReturnPlan
from processing.core.rules import Expiry, Rules
from processing.core.segments import Group
from processing.core.settlement import SettlementLine
from processing.service.records import (
    ActiveHold,
    ApiKeyRecord,
    BirthdayTrigger,
    CampaignRecord,
    CardEventRecord,
    CharityRecord,
    CharityTotals,
    Connection,
    ConnectionRecord,
    ConsentRecord,
    CustomerChangeRecord,
    CustomerCounts,
    CustomerFilter,
    CustomerListItem,
    CustomerRecord,
    DeliveryRecord,
    Document,
    DocumentHold,
    HoldRecord,
    InboxEventRecord,
    LeasedDelivery,
    LeasedEvent,
    LeasedMessage,
    LiabilityRow,
    MemberDayRow,
    MerchantRecord,
    MerchantStoreRecord,
    MessageEvent,
    MessageFacts,
    MessageRecord,
    MessageSettingsRecord,
    NewMessage,
    NewSmsCheck,
    OperationRecord,
    Position,
    ProgramGauges,
    ProgramRecord,
    ProgramSettings,
    PromoCampaignRecord,
    PromoCodeRecord,
    PromoterDue,
    PromoterFacts,
    PromoterRecord,
    PromoterReward,
    PurchaseSumsRow,
    ReportClock,
    ReportPointsRow,
    RetryFacts,
    RewardDue,
    RulesRecord,
    SegmentMemberRecord,
    SegmentRecord,
    SegmentVersionRecord,
    SettledMember,
    SettlementLineRecord,
    SettlementRecord,
    SmsCheckRecord,
    SmsSendFacts,
    Standing,
    StoredResponse,
    StoredTemplate,
    TemplateProgram,
    TierBand,
    TierMembers,
    TierMove,
    TriggerRecord,
    TriggerTemplate,
    WebhookPlaces,
    WebhookRecord,
)


class RetryTransaction(Exception):
    """The transaction lost a race it can only see after rolling back (two requests for one
    business document, say); the service runs it once more, where it sees the winner."""


class DatabaseRefusedData(Exception):
    """Postgres refused a value the request carried (a data exception, SQLSTATE class 22: a NUL
    character, a number out of range, text that is no valid input for its type). The request is
    at fault, not the server, and repeating it fails the same way: the API answers 400, never
    the 500 that tells a client to retry. The transaction was rolled back."""


class DatabaseUnavailable(Exception):
    """Postgres could not be reached, or the connection broke during the request (a restart, a
    failover, a network cut). Whether a transaction that broke at its commit was applied is
    unknown here; the idempotency record, written in that same transaction, tells a retry."""


class SendFailed(Exception):
    """A webhook receiver could not be reached or did not answer in time; ``kind`` says how,
    as a class (never the socket's own words)."""

    def __init__(self, kind: FailureClass) -> None:
        super().__init__(kind.value)
        self.kind = kind


class SmsNotSent(Exception):
    """The SMS provider could not be reached or did not take the message."""


class MessageNotSent(Exception):
    """A message channel (an SMS gateway, an SMTP server) did not take a message; the text is
    a class of failure fit to store and show, never a secret or the message itself."""


class OutgoingMessage(msgspec.Struct, frozen=True, kw_only=True):
    recipient: str
    subject: str | None
    body: str
    headers: dict[str, str] = {}


class MessageChannel(Protocol):
    """Sends one message on one channel (SMS, e-mail)."""

    async def send(self, message: OutgoingMessage) -> str | None:
        """The provider's id of the message (None when it gives none) once it took it;
        raises ``MessageNotSent`` otherwise."""
        ...


class LinkKeys(Protocol):
    """Keys that sign links sent to customers (unsubscribe), named by id."""

    current_id: str

    def link_key(self, key_id: str) -> bytes | None:
        """The key with this id; None once it has left the key ring."""
        ...


class CodeKeys(Protocol):
    """Server-side keys for SMS code HMACs, named by id (derived from the secrets keys)."""

    current_id: str

    def sms_key(self, key_id: str) -> bytes | None:
        """The key with this id; None once it has left the key ring."""
        ...


class PinKeys(Protocol):
    """The server-side keys gift certificates' PINs are kept under as HMACs (decision 0033)."""

    current_id: str

    def certificate_pin_key(self, key_id: str) -> bytes | None:
        """None when ``key_id`` is no longer in the key ring."""
        ...


class SmsProvider(Protocol):
    """Sends a text message to a phone (E.164). The text may hold a secret code: a provider
    never logs it."""

    async def send(self, phone: str, text: str) -> None:
        """Returns once the provider took the message; raises ``SmsNotSent`` otherwise."""
        ...

    async def close(self) -> None: ...


class PartnerUnavailable(Exception):
    """A partner's API could not be reached, or answered with an error: try again later."""


class PartnerApi(Protocol):
    """Calls a partner's REST API (a web shop's orders, a CRM's deals and edits)."""

    async def get_json(self, url: str, headers: dict[str, str]) -> Any:
        """The decoded JSON of a 2xx answer; raises ``PartnerUnavailable`` otherwise."""
        ...

    async def post_json(self, url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        """POSTs ``body`` as JSON; the status and the decoded JSON answer (None when it is not
        JSON), whatever the status: the partner's own errors are for its adapter to read.
        Raises ``PartnerUnavailable`` when no answer came."""
        ...

    async def post_form(self, url: str, headers: dict[str, str], form: dict[str, str]) -> Any:
        """POSTs ``form`` url-encoded (a CRM's edit); the decoded JSON of a 2xx answer, or
        ``PartnerUnavailable``."""
        ...

    async def close(self) -> None: ...


class RateLimiter(Protocol):
    """A token bucket shared by every process: ``rate`` tokens a second, at most ``burst``."""

    async def acquire(self, key: str, rate: float, burst: int) -> float:
        """Takes a token: 0 when granted, else the seconds until one is due (none taken)."""
        ...


class WebhookSender(Protocol):
    async def post(self, url: str, headers: dict[str, str], body: bytes) -> int:
        """POSTs ``body``; returns the status code, or raises ``SendFailed``."""
        ...


class LockedAccount(msgspec.Struct, frozen=True, kw_only=True):
    """An account read under its row lock, with the database clock at that moment."""

    account: Account
    program_id: UUID
    hold_ttl_seconds_default: int
    hold_ttl_seconds_max: int
    expiry: Expiry  # for the lots this change makes: see ``expiry_in_force``
    now: datetime
    key_points_per_call_max: int = limits.key_points_per_call_max_default
    key_points_per_day_max: int = limits.key_points_per_day_max_default


class NewOperation(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    program_id: UUID
    account_id: UUID
    type: str
    points: int
    available_after: int
    created_at: datetime
    channel: str
    key_id: UUID | None
    store_id: str | None
    document: Document | None = None
    reason: str | None = None
    hold_id: UUID | None = None
    refund_of: UUID | None = None
    rules_version: int | None = None
    debt_delta: int = 0
    redeemed_points: int = 0  # a purchase: the points that paid part of it
    returned_points: int = 0  # a return of a purchase: the points it gave back


class LedgerWrite(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one operation changes, computed in memory and checked before it is written."""

    operation: NewOperation
    before: Account
    after: Account
    postings: tuple[Posting, ...]  # none for a hold or its release; two legs for a paid purchase
    new_lot_id: UUID  # names the one lot the postings may create
    event: dict[str, Any]  # the payload of every outbox event the operation writes
    event_types: tuple[str, ...]


class Bought(msgspec.Struct, frozen=True, kw_only=True):
    """The purchase a return takes lines of: its receipt as priced, the rules it was priced with,
    when it was made, and how much of each line earlier returns took back."""

    lines: tuple[LineResult, ...]
    rules: RulesRecord
    created_at: datetime
    returned: dict[str, int]
    # The promoter's reward this purchase paid, not clawed back yet (decision 0034).
    promoter_reward: UUID | None = None


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What one write decides on, read in one statement without a lock: the answer already
    stored under the idempotency key, the account (absent: not found) with ``version``, the
    row version that the apply checks, the hold named by id with when it was made and by which
    operation, the open hold the request's document already has and the operation of the asked
    type it already produced, the card the request names, and the operation a refund names
    with every lot it moved."""

    answer: tuple[bytes, StoredResponse] | None
    locked: LockedAccount | None
    version: int | None
    hold: Hold | None
    hold_created_at: datetime | None = None
    hold_operation_id: UUID | None = None
    open_hold: UUID | None = None
    document_operation: UUID | None = None
    card: tuple[UUID, str] | None = None  # its customer and status
    original: Operation | None = None  # the operation a refund names
    original_lots: tuple[Lot, ...] = ()  # every lot it moved, emptied ones too
    # For a write that prices a receipt (``priced``): the rules in force; for one that also
    # ranks the customer's tier (``ranked``), the standing under them. None otherwise.
    rules: RulesRecord | None = None
    standing: Standing | None = None
    referred_by: UUID | None = None  # when ranked: the referrer of a customer yet to purchase
    promoted_by: UUID | None = None  # when ranked: the promoter of a customer yet to purchase
    bought: Bought | None = None  # when ``returns``: the purchase the named operation made
    # When a bonus kind is named: the periods it was granted in, and the customer's birthday.
    bonus_periods: frozenset[str] = frozenset()
    birthday: date | None = None
    # When promo codes are named (normalized): the stored ones, by code, with their campaigns,
    # counters and this customer's uses of each campaign.
    promo_codes: dict[str, PromoCode] = msgspec.field(default_factory=dict)


class HoldChange(msgspec.Struct, frozen=True, kw_only=True):
    """The hold a plan opens (``opened``) or resolves (``status``, the points ``spent``)."""

    opened: Hold | None = None
    status: HoldStatus | None = None
    spent: int | None = None


class KeyCharge(msgspec.Struct, frozen=True, kw_only=True):
    """Points a till's or shop's key creates, counted against the day's bound as they apply."""

    key_id: UUID
    points: int
    per_day_max: int


class Applied(enum.Enum):
    applied = "applied"
    stale = "the account changed since the load, or the key or document took effect"
    over_day_limit = "the key's points for the day would pass its bound"


class PurchaseChange(msgspec.Struct, frozen=True, kw_only=True):
    """The receipt behind a purchase operation as it was priced, and the till's fiscal data."""

    priced: Calculation
    fiscal: dict[str, Any] | None = None
    promos: tuple[PromoResult, ...] = ()  # the promo codes it applies: their uses, counted


class BonusGrant(msgspec.Struct, frozen=True, kw_only=True):
    """A bonus claimed for its period with the accrual it makes: at most once per period."""

    kind: str
    period: str


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """An outbox event a write tells beside its operation's own (a tier change, say)."""

    type: str
    payload: dict[str, Any]


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """One decided write, applied in one statement if the account is still at ``version``: the
    operation with everything it changed, its hold, the purchase it records, the events it
    tells after the operation's own, and the answer stored under the key."""

    change: LedgerWrite
    hold: HoldChange
    version: int
    key_id: UUID
    key: str
    fingerprint: bytes
    answer: StoredResponse
    charge: KeyCharge | None = None
    refunded: int | None = None  # what a refund takes from the operation it refunds
    given_back: int = 0  # of the redeemed points it paid with, what a return gives back
    purchase: PurchaseChange | None = None
    returns: ReturnPlan | None = None  # the lines a return takes back from the purchase
    grant: BonusGrant | None = None  # the bonus an accrual claims
    events: tuple[Event, ...] = ()


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """The answer a write stores under its idempotency key, in the statement that writes it."""

    key_id: UUID
    key: str
    fingerprint: bytes
    response: StoredResponse


class MintFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What minting a key decides on: the program it names, if the caller may see it, whether
    the minting key is still live, and the time."""

    program_found: bool
    merchant_found: bool
    minter_live: bool
    now: datetime
    store_merchant_id: UUID | None = None  # the merchant the key's store belongs to now


class KeyVersion(msgspec.Struct, frozen=True, kw_only=True):
    """A key as a decision read it: its record and its row's version."""

    record: ApiKeyRecord
    version: int


class KeyTree(msgspec.Struct, frozen=True, kw_only=True):
    """A live key and every key under it (those it minted, and theirs, revoked or not), first
    the key itself, each as read; and the time."""

    keys: tuple[KeyVersion, ...]
    now: datetime


class RulesFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What a replacement of a program's rules decides on: its newest version (0: none), the
    new rules as the database stores them, and the time."""

    version: int
    rules: Rules
    now: datetime


class Turns(Protocol):
    """Load and apply for a write decided between them: no transaction, no row lock; the
    apply writes nothing when the account changed since the load, or when the key, the receipt
    or the open hold already took effect, and says so. In a transaction, ``claim_key`` and
    ``lock_turn`` before the load make the same three steps race-free (the locked turn)."""

    async def claim_key(self, key_id: UUID, key: str) -> bool: ...
    async def lock_turn(self, account_id: UUID) -> None: ...

    async def load_turn(
        self,
        key_id: UUID,
        key: str,
        account_id: UUID | None,
        hold_id: UUID | None,
        program_id: UUID | None,
        store_id: str | None,
        document_id: str | None,
        document_type: str | None,
        card_number: str | None,
        operation_id: UUID | None = None,
        priced: bool = False,
        ranked: bool = False,
        returns: bool = False,
        bonus: str | None = None,
        promo_codes: tuple[str, ...] = (),
    ) -> Snapshot: ...
    async def apply_plan(self, plan: Plan) -> Applied: ...
    async def store_answer(
        self, key_id: UUID, key: str, fingerprint: bytes, response: StoredResponse
    ) -> bool: ...


class Idempotency(Protocol):
    """The answers stored under idempotency keys."""

    async def find_key(self, key_id: UUID, key: str) -> tuple[bytes, StoredResponse] | None: ...
    async def purge_keys(self, retention_seconds: int) -> int: ...
    async def replace_idempotency_answer(
        self, key_id: UUID, key: str, status_code: int, media_type: str, body: bytes
    ) -> None: ...


class LedgerStore(Protocol):
    """Accounts, lots, holds and operations: what the locked path and the reads of the ledger use.
    Reads of one hold or operation by id take the caller's program and store: None for a key
    that spans programs or stores. A store's till sees only its own store's holds and
    operations; any other answers as absent."""

    async def lock_account(
        self, account_id: UUID, program_id: UUID | None, *, skip_if_busy: bool = False
    ) -> LockedAccount | None: ...
    async def read_account(
        self, account_id: UUID, program_id: UUID | None
    ) -> LockedAccount | None: ...
    async def write(self, change: LedgerWrite) -> None: ...
    async def lock_hold(
        self, hold_id: UUID, program_id: UUID | None, store_id: str | None
    ) -> Hold | None: ...
    async def resolve_hold(
        self, hold_id: UUID, status: HoldStatus, committed: int | None, operation_id: UUID
    ) -> bool: ...
    async def get_hold(
        self, hold_id: UUID, program_id: UUID | None, store_id: str | None
    ) -> HoldRecord | None: ...
    async def active_holds(
        self, customer_id: UUID, program_id: UUID | None, store_id: str | None, limit: int
    ) -> list[ActiveHold]:
        """The customer's holds still active and within their TTL, newest first."""
        ...

    async def due_holds(self, limit: int, program_id: UUID | None) -> list[tuple[UUID, UUID]]: ...
    async def cheque_hold(
        self, program_id: UUID, store_id: str | None, document_id: str
    ) -> tuple[UUID, UUID] | None:
        """The latest hold reserved for a till's cheque: its id and its customer."""
        ...

    async def document_holds(self, program_id: UUID, pattern: str) -> list[DocumentHold]:
        """The holds a channel's documents reserved (document ids LIKE ``pattern``; no store),
        oldest first."""
        ...

    async def operation_account(
        self,
        operation_id: UUID,
        program_id: UUID | None,
        store_id: str | None,
        merchant_id: UUID | None = None,
    ) -> UUID | None: ...
    async def find_document(
        self, program_id: UUID, store_id: str | None, type_: str, document_id: str
    ) -> UUID | None: ...

    async def get_operation(self, operation_id: UUID) -> OperationRecord | None: ...
    async def statement(
        self, accounts: tuple[UUID, ...], before_seq: int, limit: int
    ) -> list[OperationRecord]: ...
    async def accounts_with_expired_lots(
        self, limit: int, program_id: UUID | None
    ) -> list[UUID]: ...


class LoyaltyStore(Protocol):
    """Programs, their rules, bonuses, tiers and purchases."""

    async def insert_program(self, program_id: UUID, program: ProgramSettings) -> ProgramRecord: ...
    async def create_program(self, program: ProgramRecord, answer: Answer) -> bool: ...
    async def get_program(self, program_id: UUID, scope: UUID | None) -> ProgramRecord | None: ...
    async def rules_facts(
        self, program_id: UUID, scope: UUID | None, rules: Rules
    ) -> RulesFacts | None:
        """None: no such program, or not the caller's."""
        ...

    async def insert_rules(self, rules: RulesRecord, key_id: UUID, answer: Answer) -> bool:
        """False also when another replacement took the version first."""
        ...

    async def current_rules(self, program_id: UUID) -> RulesRecord | None: ...
    async def rules_versions(self, program_id: UUID, before: int, limit: int) -> list[RulesRecord]:
        """Stored versions below ``before``, newest first."""
        ...

    async def bonus_granted(self, account_id: UUID, kind: str, period: str) -> bool: ...
    async def referral_due(self, customer_id: UUID) -> UUID | None:
        """The referrer, when the customer's only purchase so far is the one just written."""
        ...

    async def insert_bonus_grant(
        self, account_id: UUID, kind: str, period: str, operation_id: UUID
    ) -> bool: ...
    async def tier_inputs(
        self, account_id: UUID, since: datetime
    ) -> tuple[int, str | None, Membership | None]:
        """Money paid on purchases since ``since`` (less returns), the manual tier, and the
        paid membership in force as last written (decision 0035)."""
        ...

    async def set_tier_floor(
        self, customer_id: UUID, version: int, tier: str | None, told: Event | None, answer: Answer
    ) -> bool:
        """The manual tier with the tier change it tells, only at the account's ``version``."""
        ...

    async def find_program_by_name(self, name: str) -> ProgramRecord | None: ...
    async def list_programs(
        self,
        scope: UUID | None,
        name_prefix: str | None,
        after: Position,
        limit: int,
    ) -> list[ProgramRecord]:
        """Up to ``limit`` programs older than ``after``, newest first; a program key
        (``scope``) sees its own program only."""
        ...


class KeyStore(Protocol):
    """API keys: minted, rotated, revoked, and the one a request authenticates with."""

    async def insert_api_key(
        self,
        key_id: UUID,
        program_id: UUID | None,
        name: str,
        scopes: list[str],
        store_id: str | None,
        secret_sha256: bytes,
        created_by: UUID | None = None,
        expires_at: datetime | None = None,
    ) -> ApiKeyRecord: ...
    async def mint_facts(
        self,
        program_id: UUID,
        scope: UUID | None,
        minter_id: UUID,
        merchant_id: UUID | None = None,
        store_id: str | None = None,
    ) -> MintFacts: ...
    async def mint_api_key(self, key: ApiKeyRecord, secret_sha256: bytes, answer: Answer) -> bool:
        """False also when the minter (``key.created_by``) was revoked meanwhile."""
        ...

    async def live_api_key(self, key_id: UUID, scope: UUID | None) -> KeyVersion | None: ...
    async def rotate_api_key(
        self, key: KeyVersion, secret_sha256: bytes, grace_seconds: int, answer: Answer
    ) -> bool:
        """False also when the key's row changed since it was read."""
        ...

    async def key_tree(self, key_id: UUID, scope: UUID | None) -> KeyTree | None: ...
    async def revoke_api_keys(self, tree: KeyTree, answer: Answer) -> bool:
        """Revokes the tree's live keys at its ``now``; False, writing nothing, when any key of
        it changed since it was read, or a key was minted under it."""
        ...

    async def ensure_operator_key(self, key_id: UUID, name: str, secret_sha256: bytes) -> UUID: ...
    async def authenticate(self, secret_sha256: bytes) -> Any: ...
    async def list_api_keys(
        self,
        program_id: UUID,
        status: str | None,
        after: Position,
        limit: int,
    ) -> list[ApiKeyRecord]:
        """Up to ``limit`` of the program's keys older than ``after``, newest first, in one
        status (live, revoked, expired) or any; never their secrets."""
        ...


class Enrollment(msgspec.Struct, frozen=True, kw_only=True):
    """What an enrollment decides on: the program's country (the phone's region), the new
    account as the program would open it, the rules in force, and what is already taken."""

    country: str
    locked: LockedAccount  # the new customer's empty account, with the database clock
    rules: RulesRecord
    card_taken: bool
    referrer_found: bool  # the referrer named is a customer of the program (or none is named)
    holder: UUID | None = None  # the customer who has the phone asked about, if any
    promoter_id: UUID | None = None  # the promoter whose code the enrollment carries


class NewCustomer(msgspec.Struct, frozen=True, kw_only=True):
    """An enrolled customer as written: the account shares the id; the card, when given, is
    issued by ``key_id``."""

    id: UUID
    program_id: UUID
    phone: str
    name: str | None
    email: str | None
    birthday: date | None
    attributes: dict[str, Any]
    referred_by: UUID | None
    created_at: datetime
    card_number: str | None
    key_id: UUID
    locale: str | None = None
    promoter_id: UUID | None = None  # the promoter who brought them (decision 0034)


class CustomerChange(msgspec.Struct, frozen=True, kw_only=True):
    """What a change of one customer decides on: the customer as the API shows them, the
    account's row version the write applies at, the database clock, and whether the card the
    call names is taken in the program."""

    customer: CustomerRecord
    version: int  # the account's
    customer_version: int  # the customer row's
    country: str  # the program's: the region a new phone is read in
    now: datetime
    card_taken: bool


class CustomerEdit(msgspec.Struct, frozen=True, kw_only=True):
    """A customer's personal data as decided, written at the row version it was decided on,
    with the history entry of the fields it moved (``{"from": .., "to": ..}`` each)."""

    customer_id: UUID
    version: int
    phone: str
    name: str | None
    email: str | None
    birthday: date | None
    attributes: dict[str, Any]
    change_id: UUID
    key_id: UUID
    locale: str | None
    reason: str | None
    changes: dict[str, dict[str, Any]]
    at: datetime


class CardChange(msgspec.Struct, frozen=True, kw_only=True):
    """A card as a block or unblock decides on it: its holder, status, journal and the clock."""

    program_id: UUID
    customer_id: UUID
    status: str
    reason: str | None
    events: list[CardEventRecord]
    now: datetime


class CardStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A card's move from one status to another, by a key at a time."""

    program_id: UUID
    number: str
    was: str
    status: str
    reason: str | None
    key_id: UUID
    at: datetime


class Erasure(msgspec.Struct, frozen=True, kw_only=True):
    """A customer's personal data erased at the row version the erasure was decided on."""

    customer_id: UUID
    version: int
    at: datetime
    key_id: UUID
    reason: str
    change_id: UUID  # the history entry that records the erasure


class MergeParty(msgspec.Struct, frozen=True, kw_only=True):
    """One of two customers a merge decides on: as the core sees them, as the API shows them,
    and the account's row version the merge writes at."""

    side: MergeSide
    customer: CustomerRecord
    version: int
    tier_floor: str | None


class MergeFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What a merge decides on, read in one statement: each customer (None: not in the
    caller's program) and the database clock (None when neither was found)."""

    survivor: MergeParty | None
    merged: MergeParty | None
    now: datetime | None


class Merge(msgspec.Struct, frozen=True, kw_only=True):
    """A merge as decided: written only while both accounts are at the versions it was decided
    on. The operation ``operation_id`` moves each lot of ``lot_ids`` (``lot_points`` remaining)
    from the merged account to the survivor's, with the merged account's debt."""

    operation_id: UUID
    program_id: UUID
    survivor_id: UUID
    survivor_version: int
    merged_id: UUID
    merged_version: int
    lot_ids: tuple[UUID, ...]
    lot_points: tuple[int, ...]
    points: int
    debt: int
    posted_after: int
    debt_after: int
    available_after: int
    tier_floor: str | None  # the survivor's manual tier after the merge
    reason: str
    channel: str
    key_id: UUID
    at: datetime
    change_ids: tuple[UUID, UUID]  # the history entries: the survivor's, the merged one's
    event: dict[str, Any]  # the payload of the operation's outbox events
    event_types: tuple[str, ...]


class ExportedLot(msgspec.Struct, frozen=True, kw_only=True):
    """One row of an export: a customer and one of their open lots (``points`` None: a customer
    with no open lot, exported once so that the customer survives a round trip)."""

    customer_id: UUID
    phone: str
    name: str | None
    email: str | None
    birthday: date | None
    tier_floor: str | None
    blocked_reason: str | None
    cards: list[str]
    blocked_cards: list[str]
    points: int | None
    held: int | None
    activates_at: datetime | None
    expires_at: datetime | None


class ImportProgram(msgspec.Struct, frozen=True, kw_only=True):
    """What an import into a program reads first: its country (phones in local form are read
    as dialled there) and the database clock."""

    country: str
    now: datetime


class ImportRun(msgspec.Struct, frozen=True, kw_only=True):
    """One import of one file into one program, and the batches of it already applied."""

    import_id: str
    file_sha256: bytes
    batch_customers: int
    started_at: datetime
    finished_at: datetime | None
    applied: frozenset[int]


class ImportBatch(msgspec.Struct, frozen=True, kw_only=True):
    """One batch of an import as it is written: rows for the staging tables (in their column
    order, see sql/imports.sql), all applied in one transaction with the batch's own record,
    which makes a second application write nothing."""

    program_id: UUID
    import_id: str
    batch_no: int
    now: datetime
    customers: list[tuple[Any, ...]]
    cards: list[tuple[Any, ...]]
    lots: list[tuple[Any, ...]]
    lot_count: int
    points: int


class ImportStore(Protocol):
    """Bulk loading of an import file (``bonus import``): staged by COPY, written set-based."""

    async def import_program(self, program_id: UUID) -> ImportProgram | None: ...
    async def import_run(self, program_id: UUID, import_id: str) -> ImportRun | None: ...
    async def start_import_run(
        self, program_id: UUID, import_id: str, file_sha256: bytes, batch_customers: int
    ) -> ImportRun:
        """The run, created unless it exists, and the program's opening account."""
        ...

    async def taken_phones(self, program_id: UUID, phones: list[str]) -> set[str]: ...
    async def taken_cards(self, program_id: UUID, numbers: list[str]) -> set[str]: ...
    async def apply_import_batch(self, batch: ImportBatch) -> bool:
        """Writes the batch; False when it was applied before (nothing is written). Needs a
        transaction."""
        ...

    async def finish_import_run(self, program_id: UUID, import_id: str) -> None: ...


class CustomerStore(Protocol):
    """Customers, their cards and blocks. A change is written in one statement with its answer
    and writes nothing (returns False) when the key already has one or what it was decided on
    moved: a phone or card taken, a card's status or the account's version changed."""

    async def enrollment(
        self,
        program_id: UUID,
        customer_id: UUID,
        card_number: str | None,
        referred_by: UUID | None,
        phone: str | None,
        promoter_code: str | None = None,
    ) -> Enrollment | None: ...
    async def enroll(self, customer: NewCustomer, welcome: Plan | None, answer: Answer) -> bool:
        """The customer, account and card; with ``welcome``, in one transaction with that
        plan, applied at the new account's version, which stores the answer."""
        ...

    async def find_customer_by_phone(self, program_id: UUID, phone: str) -> UUID | None: ...
    async def get_customer(
        self, customer_id: UUID, scope: UUID | None
    ) -> CustomerRecord | None: ...
    async def customer_change(
        self, customer_id: UUID, scope: UUID | None, card_number: str | None
    ) -> CustomerChange | None: ...
    async def customer_accounts(
        self, customer_id: UUID, scope: UUID | None
    ) -> tuple[UUID, ...] | None: ...
    async def list_customers(
        self,
        program_id: UUID,
        narrowed: CustomerFilter,
        band: TierBand | None,
        after: Position,
        limit: int,
    ) -> list[CustomerListItem]:
        """Up to ``limit`` of the program's customers older than ``after``, newest first."""
        ...

    async def update_customer(self, edit: CustomerEdit, answer: Answer) -> bool: ...
    async def record_consent(
        self, program_id: UUID, customer_id: UUID, consent: ConsentRecord, answer: Answer
    ) -> bool: ...
    async def consents_in_force(self, customer_id: UUID) -> list[ConsentRecord]: ...
    async def consent_history(
        self, customer_id: UUID, after: Position, limit: int
    ) -> list[ConsentRecord]: ...
    async def erase_customer(self, erasure: Erasure, answer: Answer) -> bool: ...
    async def merge_facts(
        self, survivor_id: UUID, merged_id: UUID, scope: UUID | None
    ) -> MergeFacts: ...
    async def merge_customers(self, merge: Merge, answer: Answer) -> bool: ...
    async def customer_changes(
        self, customer_id: UUID, after: Position, limit: int
    ) -> list[CustomerChangeRecord]: ...
    async def issue_card(
        self,
        program_id: UUID,
        number: str,
        customer_id: UUID,
        key_id: UUID,
        at: datetime,
        answer: Answer,
    ) -> bool: ...
    async def find_card(self, program_id: UUID, number: str) -> Any: ...
    async def card_change(self, program_id: UUID, number: str) -> CardChange | None: ...
    async def set_card_status(self, change: CardStatus, answer: Answer) -> bool: ...
    async def card_journal(self, program_id: UUID, number: str) -> list[CardEventRecord]: ...
    async def set_account_block(
        self, account_id: UUID, version: int, reason: str | None, answer: Answer
    ) -> bool: ...
    def exported_lots(self, program_id: UUID, batch_rows: int) -> AsyncIterator[ExportedLot]:
        """The program's customers that are not erased, each with their open lots, ordered by
        customer, fetched ``batch_rows`` at a time; needs a transaction (a snapshot)."""
        ...


class WebhookStore(Protocol):
    """Webhook subscriptions and their deliveries."""

    async def insert_webhook(
        self, webhook_id: UUID, program_id: UUID, url: str, secret: str, event_types: list[str]
    ) -> WebhookRecord: ...
    async def webhook_places(self, program_id: UUID, scope: UUID | None) -> WebhookPlaces | None:
        """The program's active subscriptions with its row version, if the caller may see it."""
        ...

    async def subscribe_webhook(
        self, version: int, record: WebhookRecord, secret: str, answer: Answer
    ) -> bool:
        """Stores the subscription (its secret sealed) with its answer; False when the key
        answered meanwhile or another subscribe changed the program since ``version``."""
        ...

    async def list_webhooks(self, program_id: UUID) -> list[WebhookRecord]: ...
    async def webhook(self, webhook_id: UUID, scope: UUID | None) -> WebhookRecord | None: ...
    async def disable_webhook(self, webhook_id: UUID, answer: Answer) -> bool: ...
    async def webhook_program(self, webhook_id: UUID, scope: UUID | None) -> UUID | None: ...
    async def webhook_deliveries(
        self, webhook_id: UUID, before_id: int, status: str | None, limit: int
    ) -> list[DeliveryRecord]: ...
    async def webhook_delivery(
        self, delivery_id: int, scope: UUID | None, webhook_id: UUID | None = None
    ) -> str | None:
        """The delivery's status, if the caller's program may see it (and, with
        ``webhook_id``, if it is that subscription's)."""
        ...

    async def redeliver_webhook(self, delivery_id: int, answer: Answer) -> bool: ...
    async def fan_out(self, limit: int) -> tuple[int, int]:
        """Relays up to ``limit`` outbox events; returns (events, deliveries created)."""
        ...

    async def lease_deliveries(self, limit: int, lease_seconds: float) -> list[LeasedDelivery]: ...
    async def delivery_succeeded(self, delivery_id: int, status_code: int) -> None: ...
    async def relay_backlog(self) -> dict[str, int]:
        """Outbox events not fanned out, deliveries pending, deliveries dead."""
        ...

    async def delivery_failed(
        self,
        delivery_id: int,
        delay_seconds: float,
        max_attempts: int,
        status_code: int | None,
        error: str,
    ) -> str | None:
        """Records a failed attempt; returns the delivery's status after it (dead or pending)."""
        ...


class InboxEventFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What a retry of an inbox event decides on: the event as read, and the time."""

    event: InboxEventRecord
    now: datetime


class ChannelStore(Protocol):
    """Partner channels: connections and the inbox."""

    async def insert_connection(
        self,
        connection_id: UUID,
        program_id: UUID,
        partner: str,
        account: str,
        key_id: UUID,
        secrets: dict[str, str],
        settings: dict[str, Any],
    ) -> Connection | None: ...  # None: that partner account is connected already
    async def get_connection(self, connection_id: UUID) -> Connection | None: ...
    async def list_connections(self, partner: str) -> list[Connection]: ...
    async def link_contact(
        self, connection_id: UUID, customer_id: UUID, program_id: UUID, contact_id: str
    ) -> None:
        """The CRM contact that shows this customer: the relay writes its balance back."""
        ...

    async def clock_now(self) -> datetime: ...
    async def set_connection_setting(self, connection_id: UUID, name: str, value: str) -> None: ...
    async def insert_inbox_event(
        self, connection_id: UUID, event_key: str, topic: str, payload: Any, coalesce: bool
    ) -> bool: ...
    async def lease_inbox_events(self, limit: int, lease_seconds: float) -> list[LeasedEvent]: ...
    async def inbox_event_done(self, event_id: int) -> None: ...
    async def inbox_event_failed(
        self, event_id: int, delay_seconds: float, max_attempts: int, error: str, final: bool
    ) -> str | None: ...
    async def inbox_event_deferred(
        self, event_id: int, delay_seconds: float, reason: str
    ) -> None: ...

    # The operator's view: connections without their secrets, the inbox a page at a time.
    async def program_connections(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[ConnectionRecord]: ...
    async def connection_program(self, connection_id: UUID, scope: UUID | None) -> UUID | None:
        """The connection's program, if the caller's program (``scope``) may see it."""
        ...

    async def inbox_events(
        self,
        connection_id: UUID,
        status: str | None,
        before_at: datetime,
        before_id: int,
        limit: int,
        excerpt_length: int,
    ) -> list[InboxEventRecord]:
        """Up to ``limit`` events older than (``before_at``, ``before_id``) by when they were
        received, newest first, in one status or any; payloads cut at ``excerpt_length``."""
        ...

    async def inbox_event(
        self, event_id: int, connection_id: UUID, scope: UUID | None, excerpt_length: int
    ) -> InboxEventFacts | None: ...
    async def retry_inbox_event(self, event_id: int, due_at: datetime, answer: Answer) -> bool:
        """False, writing nothing, when the event is no longer dead or the key answered."""
        ...


class PortalState(msgspec.Struct, frozen=True, kw_only=True):
    """An installed Bitrix24 portal: its connection (whose sealed secrets hold the OAuth pair,
    the application token and the REST endpoint) and the pair's generation."""

    member_id: str
    connection: Connection
    access_expires_at: datetime
    generation: int
    now: datetime


class InstallGrantFacts(msgspec.Struct, frozen=True, kw_only=True):
    program_found: bool
    now: datetime


class Bitrix24AppStore(Protocol):
    """The Bitrix24 application path: install grants and installed portals."""

    async def install_grant_facts(
        self, program_id: UUID, scope: UUID | None
    ) -> InstallGrantFacts: ...
    async def insert_install_grant(
        self,
        token_sha256: bytes,
        program_id: UUID,
        created_by: UUID,
        expires_at: datetime,
        answer: Answer,
    ) -> bool: ...
    async def install_grant_program(self, token_sha256: bytes) -> UUID | None:
        """The program of a grant still unused and unexpired."""
        ...

    async def spend_install_grant(self, token_sha256: bytes, connection_id: UUID) -> bool:
        """False, writing nothing, when the grant was spent or expired meanwhile."""
        ...

    async def bitrix24_connection(self, account: str) -> Connection | None:
        """The portal's connection, active or not."""
        ...

    async def reconnect(
        self, connection_id: UUID, secrets: dict[str, str], settings: dict[str, Any]
    ) -> Connection: ...
    async def upsert_portal(self, member_id: str, connection_id: UUID, expires_in: int) -> bool:
        """False, writing nothing, when the member_id is another connection's."""
        ...

    async def portal(self, connection_id: UUID) -> PortalState | None: ...
    async def portal_by_member(self, member_id: str) -> PortalState | None: ...
    async def claim_token_refresh(
        self, connection_id: UUID, generation: int, lease_seconds: float
    ) -> bool:
        """True when this caller now refreshes generation ``generation``'s pair."""
        ...

    async def release_token_refresh(self, connection_id: UUID, generation: int) -> None: ...
    async def store_refreshed_tokens(
        self, connection_id: UUID, generation: int, secrets: dict[str, str], expires_in: int
    ) -> bool:
        """False, writing nothing, when the generation moved (another refresh stored first)."""
        ...

    async def deactivate_connection(self, connection_id: UUID) -> bool: ...


class MessageStore(Protocol):
    """Message templates and SMS confirmation checks."""

    async def template_program(
        self, program_id: UUID, scope: UUID | None
    ) -> TemplateProgram | None:
        """The program a template is stored for, if the caller may see it."""
        ...

    async def put_message_template(
        self, program_id: UUID, template: Template, key_id: UUID, now: datetime, answer: Answer
    ) -> bool:
        """Stores the template with its answer; False when the key answered meanwhile."""
        ...

    async def message_template(
        self, program_id: UUID, kind: MessageKind
    ) -> StoredTemplate | None: ...
    async def sms_send_facts(
        self, customer_id: UUID, scope: UUID | None, window_seconds: int
    ) -> SmsSendFacts | None:
        """What a send decides on, if the caller may see the customer."""
        ...

    async def send_sms_check(
        self, customer_id: UUID, version: int, check: NewSmsCheck, answer: Answer
    ) -> bool:
        """Stores the check with its answer; False when the key answered meanwhile or the
        account changed since ``version`` (another send, a block)."""
        ...

    async def sms_check(
        self, check_id: UUID, program_id: UUID, store_id: str | None = None
    ) -> SmsCheckRecord | None: ...
    async def sms_check_attempted(self, check_id: UUID, version: int, answer: Answer) -> bool:
        """Counts a wrong try with its answer; False when the key answered meanwhile or the
        check changed since ``version``."""
        ...

    async def sms_check_verified(
        self, check_id: UUID, version: int, verified_at: datetime, answer: Answer
    ) -> bool:
        """Spends the check with its answer; False when the key answered meanwhile or the
        check changed since ``version``."""
        ...

    async def sms_check_abandoned(self, check_id: UUID) -> None: ...


class Audience(msgspec.Struct, frozen=True, kw_only=True):
    """What a segment's statement is compiled from: the program, the parsed filter, the
    current rules' tiers (names and thresholds, ascending, and their window) that the tier
    predicate and each member's tier are ranked by, and the window of a member's expiring
    points."""

    program_id: UUID
    filter: Group
    tier_names: tuple[str, ...]
    tier_thresholds_minor: tuple[int, ...]
    tier_window_days: int
    expiring_days: int


class SegmentFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What a new version of a segment is decided on: its program, the newest version (0: a
    new segment), the newest version's name, and the database clock."""

    program_id: UUID
    version: int
    name: str | None
    created_at: datetime | None
    now: datetime


class NewSegmentVersion(msgspec.Struct, frozen=True, kw_only=True):
    segment_id: UUID
    program_id: UUID
    version: int
    name: str
    filter: dict[str, Any]
    key_id: UUID
    at: datetime


class SegmentStore(Protocol):
    """Segments, their versions and counts, and the customers a segment holds."""

    async def segment_facts(
        self, program_id: UUID | None, segment_id: UUID | None, scope: UUID | None
    ) -> SegmentFacts | None:
        """For a new segment (``program_id``) or a new version (``segment_id``); None: no such
        program or segment, or not the caller's."""
        ...

    async def insert_segment_version(self, new: NewSegmentVersion, answer: Answer) -> bool:
        """The version (with the segment itself for version 1) and the answer; False when
        another writer took the version first or the key already has an answer."""
        ...

    async def get_segment(self, segment_id: UUID, scope: UUID | None) -> SegmentRecord | None: ...
    async def list_segments(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[SegmentRecord]: ...
    async def segment_versions(
        self, segment_id: UUID, before: int, limit: int
    ) -> list[SegmentVersionRecord]: ...
    async def program_customers(self, program_id: UUID, at_most: int | None = None) -> int:
        """The program's customers a segment can hold (not erased, not merged), counted up to
        ``at_most``."""
        ...

    async def count_segment(self, audience: Audience) -> int: ...
    async def estimate_segment(self, audience: Audience, percent: float) -> tuple[int, int]:
        """(customers sampled, of them matching) over a ``percent`` sample of the table."""
        ...

    async def stored_count(
        self, segment_id: UUID, version: int, fresh_seconds: float
    ) -> tuple[int, datetime, bool] | None:
        """The newest exact count of the version, when it was taken, and whether it is younger
        than ``fresh_seconds``."""
        ...

    async def store_count(self, segment_id: UUID, version: int, exact: int) -> datetime: ...
    async def segment_members(
        self, audience: Audience, after: Position, limit: int
    ) -> list[SegmentMemberRecord]:
        """Up to ``limit`` members older than ``after``, newest first."""
        ...

    def segment_member_rows(
        self, audience: Audience, batch_rows: int
    ) -> AsyncIterator[SegmentMemberRecord]:
        """Every member, newest first, through a server-side cursor (inside a transaction)."""


class ReportStore(Protocol):
    """The report rollups (decision 0025): read by period and day, rebuilt from the ledger."""

    async def report_points(
        self, program_id: UUID, first: date, last: date, period: str, grouping: str
    ) -> list[ReportPointsRow]:
        """The rollups from ``first`` to ``last`` (inclusive) per period, group and type."""
        ...

    async def report_liability(self, program_id: UUID, on: date) -> list[LiabilityRow]:
        """Points outstanding at the end of ``on`` by the store that earned them."""
        ...

    async def report_clock(self, program_id: UUID, scope: UUID | None) -> ReportClock | None:
        """None when there is no such program or it is not ``scope``'s (None: any)."""
        ...

    async def rebuild_reports(self, program_id: UUID | None) -> tuple[int, int]:
        """Recomputes the rollups of one program (None: all) from the ledger, under a lock
        the relay's roll-up waits on; the rows written to each table."""
        ...

    async def analyze_reports(self) -> None:
        """Tells the planner the rollups' new size (after a rebuild)."""
        ...


class CustomerReportStore(Protocol):
    """The purchase rollups and customer sets (decision 0027), and what the members report reads
    from the customers and their tier changes."""

    async def report_purchase_sums(
        self, program_id: UUID, first: date, last: date, period: str, grouping: str
    ) -> list[PurchaseSumsRow]:
        """Purchases and returns from ``first`` to ``last`` (inclusive) per period and group."""
        ...

    async def report_customer_counts(
        self, program_id: UUID, spans: list[int], grains: list[str], periods: list[date]
    ) -> list[CustomerCounts]:
        """Distinct customers per span: the union of its pieces (a grain and its first day)."""
        ...

    async def report_member_days(
        self, program_id: UUID, first: date, last: date
    ) -> list[MemberDayRow]: ...

    async def report_member_tiers(self, program_id: UUID, on: date) -> list[TierMembers]: ...

    async def report_tier_moves(
        self, program_id: UUID, first: date, last: date
    ) -> list[TierMove]: ...

    async def report_program_gauges(self, active_days: int) -> list[ProgramGauges]: ...

    async def rebuild_customer_reports(self, program_id: UUID | None) -> int:
        """Recomputes the purchase rollups and customer sets of one program (None: all) from
        the ledger, under a lock the relay's roll-up waits on; the operations added."""
        ...


class CampaignStore(Protocol):
    """Campaigns (decision 0024): their rows, the snapshot of their members and progress."""

    async def insert_campaign(self, campaign: CampaignRecord, answer: Answer) -> bool:
        """The scheduled campaign with its answer; False when the key already has one."""
        ...

    async def get_campaign(self, campaign_id: UUID, scope: UUID | None) -> CampaignRecord | None:
        """With its progress counts; None when not there or not the ``scope`` program's."""
        ...

    async def list_campaigns(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[CampaignRecord]:
        """Up to ``limit`` campaigns older than ``after``, newest first, with progress."""
        ...

    async def due_campaigns(self, limit: int) -> list[UUID]:
        """Scheduled campaigns whose start has come and running ones, oldest start first."""
        ...

    async def start_campaign(self, campaign_id: UUID, audience: Audience) -> None:
        """Under the campaign's row lock: a scheduled one snapshots its segment's members
        (one statement) and runs; any other state is left as it is."""
        ...

    async def campaign_state(self, campaign_id: UUID) -> tuple[str | None, datetime]:
        """The campaign's state (None: no such campaign) and the database's clock."""
        ...

    async def pending_members(self, campaign_id: UUID, limit: int) -> list[UUID]: ...
    async def settle_members(self, campaign_id: UUID, settled: list[SettledMember]) -> None:
        """A batch of pending members' outcomes in one statement; a member already settled
        stays as it was."""
        ...

    async def campaign_templates(self, campaign_id: UUID) -> list[TriggerTemplate] | None:
        """A running or finished campaign's message templates, share-locked for the
        transaction (a cancel waits for the messages being made); None once cancelled."""
        ...

    async def member_attempt_failed(
        self, campaign_id: UUID, customer_id: UUID, why: str, attempts_max: int
    ) -> None:
        """A pending member's accrual raised: counted; failed (``why``) at ``attempts_max``."""
        ...

    async def finish_campaign(self, campaign_id: UUID) -> bool:
        """A running campaign with no member pending is finished; True when it now is."""
        ...

    async def cancel_campaign(self, campaign_id: UUID, at: datetime, answer: Answer) -> bool:
        """A scheduled or running campaign is cancelled at ``at``, with the answer; False (and
        nothing written) in any other state or when the key already has an answer."""
        ...


class TriggerStore(Protocol):
    """Trigger messages: a program's settings and triggers, the events they want, the messages
    they made and their sending (named queries in ``sql/triggers.sql``)."""

    async def message_settings(self, program_id: UUID) -> MessageSettingsRecord | None: ...
    async def put_message_settings(
        self, program_id: UUID, settings: MessageSettingsRecord, answer: Answer
    ) -> bool: ...
    async def message_triggers(self, program_id: UUID) -> list[TriggerRecord]: ...
    async def message_trigger(self, program_id: UUID, trigger: str) -> TriggerRecord | None: ...
    async def put_message_trigger(
        self,
        program_id: UUID,
        event_type: str,
        record: TriggerRecord,
        key_id: UUID,
        answer: Answer,
    ) -> bool: ...
    async def take_message_events(self, limit: int) -> list[MessageEvent]: ...
    async def scan_expiring_lots(self, limit: int) -> int:
        """Events for lots a points_expiring trigger wants, each once; how many were new."""
        ...

    async def birthday_triggers(self) -> list[BirthdayTrigger]: ...
    async def scan_birthdays(
        self, program_id: UUID, days: list[tuple[str, int]], limit: int
    ) -> int: ...
    async def scan_welcomes(
        self, limit: int, delay_seconds: float, grace_seconds: float
    ) -> int: ...

    async def message_events_processed(self, event_ids: list[int]) -> None: ...
    async def lock_customer_messages(self, customer_id: UUID) -> None: ...
    async def message_facts(self, customer_id: UUID) -> MessageFacts | None: ...
    async def event_triggers(self, program_id: UUID, event_type: str) -> list[TriggerRecord]: ...
    async def marketing_counted(self, customer_id: UUID, since: datetime) -> dict[str, int]: ...
    async def operation_store(self, operation_id: UUID) -> str | None: ...
    async def insert_message(self, message: NewMessage) -> int | None:
        """The new message's id; None when the event already made one on that channel."""
        ...

    async def lease_messages(self, limit: int, lease_seconds: float) -> list[LeasedMessage]: ...
    async def defer_messages(self, deferred: list[tuple[int, datetime]]) -> None:
        """Leased messages put back until the given times, their lease's attempt not counted."""
        ...

    async def message_sent(self, message_id: int, provider_id: str | None) -> None: ...
    async def retry_facts(self, message_id: int) -> RetryFacts | None:
        """The queued message's program's zone, quiet window and the clock; None: not queued."""
        ...

    async def message_failed(
        self, message_id: int, retry_at: datetime, reason: str, max_attempts: int
    ) -> str | None: ...
    async def purge_messages(self, retention_seconds: int, limit: int) -> int:
        """Deletes up to ``limit`` settled messages made before the retention; how many."""
        ...

    async def purge_message_events(self, retention_seconds: int, limit: int) -> int:
        """Deletes up to ``limit`` processed events past the retention that no scan could make
        again; how many."""
        ...

    async def customer_messages(
        self, customer_id: UUID, before_id: int, limit: int
    ) -> list[MessageRecord]: ...
    async def customer_of_program(self, customer_id: UUID, scope: UUID | None) -> UUID | None: ...
    async def unsubscribe(self, consent_id: UUID, customer_id: UUID, channel: str) -> bool:
        """Withdraws the consent in force on a channel; False when it was not given."""
        ...


class MerchantFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What a new merchant is decided on: its program and the database clock."""

    program_id: UUID
    now: datetime


class StoreFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What assigning a store to a merchant, or ending that, is decided on: the merchant's
    program, whether a key of the program names the store, the store's open assignment (its id,
    merchant and start) if it has one, and the database clock."""

    merchant_id: UUID
    program_id: UUID
    store_known: bool
    assignment_id: UUID | None
    assigned_to: UUID | None
    assigned_at: datetime | None
    now: datetime


class SettlementFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What closing a period is decided on: the program's currency and time zone, the period's
    bounds in it, the closed statement it overlaps (if any), and the database clock."""

    program_id: UUID
    currency: str
    time_zone: str
    starts_at: datetime
    ends_at: datetime
    overlapping: UUID | None
    now: datetime


class UnvaluedLine(msgspec.Struct, frozen=True, kw_only=True):
    """A settlement line as the ledger gives it, with the rules version it is valued by."""

    operation_id: UUID
    operation_type: str
    refund_of: UUID | None
    created_at: datetime
    store_id: str | None
    merchant_id: UUID | None
    earning_store_id: str | None
    earning_merchant_id: UUID | None
    points: int
    rules_version: int


class MerchantStore(Protocol):
    """Merchants, their stores, settlement statements and the liability by merchant."""

    async def merchant_facts(
        self, program_id: UUID, scope: UUID | None
    ) -> MerchantFacts | None: ...

    async def insert_merchant(
        self, merchant: MerchantRecord, key_id: UUID, answer: Answer
    ) -> bool: ...

    async def get_merchant(
        self, merchant_id: UUID, scope: UUID | None
    ) -> MerchantRecord | None: ...

    async def list_merchants(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[MerchantRecord]: ...
    async def program_merchants(self, program_id: UUID) -> dict[UUID, str]: ...
    async def store_facts(
        self, merchant_id: UUID, scope: UUID | None, store_id: str
    ) -> StoreFacts | None: ...
    async def assign_store(
        self, assignment: MerchantStoreRecord, key_id: UUID, answer: Answer
    ) -> bool:
        """False when the store's open assignment was taken meanwhile, or the key answered."""
        ...

    async def unassign_store(
        self, assignment_id: UUID, at: datetime, key_id: UUID, answer: Answer
    ) -> bool:
        """False when the assignment was ended meanwhile, or the key answered."""
        ...

    async def merchant_stores(
        self, merchant_id: UUID, after: Position, limit: int
    ) -> list[MerchantStoreRecord]: ...
    async def lock_settlements(self, program_id: UUID) -> None:
        """Queues the transactions closing the program's statements, until they commit."""
        ...

    async def settlement_facts(
        self, program_id: UUID, scope: UUID | None, start: date, end: date
    ) -> SettlementFacts | None: ...
    async def settlement_lines(
        self, program_id: UUID, starts_at: datetime, ends_at: datetime, limit: int
    ) -> list[UnvaluedLine]: ...
    async def rules_of_versions(
        self, program_id: UUID, versions: list[int]
    ) -> dict[int, Rules]: ...

    async def insert_settlement(
        self,
        statement: SettlementRecord,
        lines: list[SettlementLine],
        answer: Answer,
    ) -> bool: ...
    async def get_settlement(
        self, statement_id: UUID, scope: UUID | None
    ) -> SettlementRecord | None: ...
    async def list_settlements(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[SettlementRecord]: ...
    async def settlement_line_page(
        self, statement_id: UUID, after: int, limit: int, merchant_id: UUID | None
    ) -> list[SettlementLineRecord]: ...
    async def liability_points(self, program_id: UUID) -> dict[UUID | None, int]: ...
    async def merchant_operations(self, operation_ids: list[UUID], merchant_id: UUID) -> set[UUID]:
        """Those of the operations made at a store that was the merchant's then."""
        ...


class PassCredentials(msgspec.Struct, frozen=True, kw_only=True):
    """What signs a program's passes: its pass type certificate and private key, and Apple's
    WWDR intermediate, as PEM. Kept sealed; never answered."""

    certificate_pem: str
    private_key_pem: str
    wwdr_pem: str


class CertificateInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a pass type certificate says that an operator may see."""

    subject: str
    not_after: datetime


class Unsigned(msgspec.Struct, frozen=True, kw_only=True):
    """Credentials that cannot sign: the field at fault and why."""

    field: str
    reason: str


class PassSigning(Protocol):
    """Checks a program's signing credentials and signs a pass's manifest (decision 0029)."""

    def check(
        self, credentials: PassCredentials, pass_type_identifier: str, team_identifier: str
    ) -> CertificateInfo | Unsigned: ...
    def sign(self, manifest: bytes, credentials: PassCredentials) -> bytes: ...


class WalletSettings(msgspec.Struct, frozen=True, kw_only=True):
    """A program's Apple Wallet settings as stored, its credentials opened."""

    program_id: UUID
    pass_type_identifier: str
    team_identifier: str
    organization_name: str
    description: str
    background_color: str
    foreground_color: str
    label_color: str
    terms: str
    certificate_subject: str
    certificate_not_after: datetime
    logo_png: bytes | None
    icon_png: bytes | None
    updated_at: datetime
    credentials: PassCredentials


class WalletFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What a change of a program's Apple Wallet settings is decided on: the program (none: not
    there or not the caller's), its settings now, and the database clock."""

    program_id: UUID
    settings: WalletSettings | None
    now: datetime


class WalletPass(msgspec.Struct, frozen=True, kw_only=True):
    """A card's pass: its serial, its token (opened), and what it showed when its tag last
    moved."""

    serial_number: UUID
    program_id: UUID
    card_number: str
    authentication_token: str
    content_sha256: bytes
    updated_tag: int
    updated_at: datetime


class WalletCard(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: UUID
    status: str
    customer_name: str | None


class WalletChange(msgspec.Struct, frozen=True, kw_only=True):
    """A change a customer's wallet passes may show, queued by the outbox relay."""

    id: int
    program_id: UUID
    customer_id: UUID
    attempts: int


class WalletDevice(msgspec.Struct, frozen=True, kw_only=True):
    device_library_identifier: str
    push_token: str
    pass_type_identifier: str


class PushResult(enum.Enum):
    sent = "sent"
    gone = "gone"  # APNs 410: the token is no longer active for the topic; drop it
    failed = "failed"  # anything else: tried again later


class PassPush(Protocol):
    """Tells a device that one of its passes changed (APNs, decision 0029)."""

    async def push(self, push_token: str, topic: str) -> PushResult: ...


class WalletStore(Protocol):
    """Apple Wallet settings, passes and device registrations (decision 0029)."""

    async def wallet_facts(self, program_id: UUID, scope: UUID | None) -> WalletFacts | None: ...
    async def save_wallet_settings(
        self, settings: WalletSettings, key_id: UUID, answer: Answer
    ) -> bool: ...
    async def save_wallet_image(
        self, program_id: UUID, kind: str, png: bytes, at: datetime, answer: Answer
    ) -> bool: ...
    async def wallet_settings(self, program_id: UUID) -> WalletSettings | None: ...
    async def wallet_card(self, program_id: UUID, number: str) -> WalletCard | None: ...
    async def wallet_operations(self, customer_id: UUID, limit: int) -> list[Any]: ...
    async def issue_wallet_pass(
        self, program_id: UUID, number: str, token: str, content_sha256: bytes
    ) -> WalletPass: ...
    async def wallet_pass(self, serial_number: UUID) -> WalletPass | None: ...
    async def move_wallet_tag(
        self, serial_number: UUID, seen_sha256: bytes, content_sha256: bytes
    ) -> WalletPass | None: ...
    async def register_wallet_device(
        self, device: str, serial_number: UUID, pass_type_identifier: str, push_token: str
    ) -> bool: ...
    async def unregister_wallet_device(self, device: str, serial_number: UUID) -> bool: ...
    async def wallet_device_passes(
        self, device: str, pass_type_identifier: str, limit: int
    ) -> list[WalletPass]: ...
    async def lease_wallet_changes(
        self, limit: int, lease_seconds: float
    ) -> list[WalletChange]: ...
    async def finish_wallet_change(self, change_id: int) -> None: ...
    async def retry_wallet_change(self, change_id: int, seconds: float) -> None: ...
    async def customer_wallet_passes(
        self, customer_id: UUID, program_id: UUID
    ) -> list[WalletPass]: ...
    async def wallet_devices_behind(self, serial_number: UUID, tag: int) -> list[WalletDevice]: ...
    async def wallet_device_pushed(self, device: str, serial_number: UUID, tag: int) -> None: ...


class EnrollmentPageRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A program's public enrollment page (decision 0031): its address, whether it is open, the
    words it shows, the page's own key (the actor of what it writes) and the program's country
    (how a phone typed without +7 reads)."""

    program_id: UUID
    slug: str
    enabled: bool
    display_name: str
    terms: str
    sms_wording: str
    email_wording: str
    key_id: UUID
    updated_at: datetime
    country: str


class EnrollmentPageFacts(msgspec.Struct, frozen=True, kw_only=True):
    program_id: UUID
    slug_holder: UUID | None  # another program that has the slug asked for
    now: datetime


class PhoneSends(msgspec.Struct, frozen=True, kw_only=True):
    """Codes sent to one phone by every program's page, in the last hour and day."""

    last_hour: int
    last_day: int
    now: datetime


class EnrollmentCodeTry(msgspec.Struct, frozen=True, kw_only=True):
    """A counted try at a live code: what the code typed is compared with."""

    id: UUID
    phone: str
    code_hmac: bytes
    code_key_id: str
    attempts: int


class EnrollmentCodeState(msgspec.Struct, frozen=True, kw_only=True):
    verified: bool
    expired: bool
    attempts: int


class EnrollmentStore(Protocol):
    """Enrollment pages and the codes they send to phones."""

    async def enrollment_page_facts(
        self, program_id: UUID, scope: UUID | None, slug: str
    ) -> EnrollmentPageFacts | None: ...
    async def put_enrollment_page(
        self,
        page: EnrollmentPageRecord,
        key_secret_sha256: bytes,
        answer: Answer,
    ) -> bool: ...
    async def enrollment_page_of_program(
        self, program_id: UUID, scope: UUID | None
    ) -> EnrollmentPageRecord | None: ...
    async def enrollment_page_by_slug(self, slug: str) -> EnrollmentPageRecord | None: ...
    async def enrollment_phone_sends(self, phone: str) -> PhoneSends:
        """Counted under the phone's transaction-long lock, taken here."""
        ...

    async def insert_enrollment_code(
        self,
        code_id: UUID,
        program_id: UUID,
        phone: str,
        code_hmac: bytes,
        code_key_id: str,
        created_at: datetime,
        expires_at: datetime,
    ) -> None: ...
    async def enrollment_code_abandoned(self, code_id: UUID) -> None: ...
    async def enrollment_code_try(
        self, code_id: UUID, program_id: UUID, attempts_max: int
    ) -> EnrollmentCodeTry | None: ...
    async def enrollment_code_state(
        self, code_id: UUID, program_id: UUID
    ) -> EnrollmentCodeState | None: ...
    async def enrollment_code_verified(self, code_id: UUID) -> bool: ...


class AbuseWindows(Protocol):
    """Counts a client's requests in fixed windows shared by every process (Redis): each call
    counts one and answers how many the window holds with it. Raises
    ``AbuseWindowsUnavailable`` when it cannot count, so a public page that sends SMS fails
    closed."""

    async def count(self, key: str, window_seconds: int) -> int: ...


class AbuseWindowsUnavailable(Exception):
    """The counters of the public pages' abuse limits cannot be reached."""


class GoogleWalletFailed(Exception):
    """Google's Wallet API (or its token endpoint) did not do what was asked: ``status`` is its
    answer (None: no answer at all: a timeout, a refused connection) and ``kind`` the failure's
    class, fit to store and show (never a token, a key or the socket's own words)."""

    def __init__(self, what: str, status: int | None, kind: str) -> None:
        super().__init__(f"{what}: {kind}" + ("" if status is None else f" ({status})"))
        self.status = status
        self.kind = kind


class GoogleWalletCredentials(msgspec.Struct, frozen=True, kw_only=True):
    """A program's Google Wallet settings with the service account's key, opened."""

    settings: GoogleWalletSettings
    private_key: str  # PEM


class GoogleWalletApi(Protocol):
    """Google's Wallet API as a program's service account reaches it (decision 0030): signing
    with the account's key, and the class and object calls, each made with an access token the
    adapter gets and keeps until shortly before it expires."""

    def key_problem(self, private_key: str) -> str | None:
        """Why ``private_key`` cannot sign (not PEM, not an RSA private key); None when it can."""
        ...

    def sign(self, private_key: str, claims: dict[str, Any]) -> str:
        """``claims`` as a JWT signed RS256 with ``private_key``."""
        ...

    async def ensure_class(
        self, credentials: GoogleWalletCredentials, body: dict[str, Any]
    ) -> None:
        """Inserts the class if Google has none by its id, updates it if it shows other values."""
        ...

    async def ensure_object(
        self, credentials: GoogleWalletCredentials, body: dict[str, Any]
    ) -> None:
        """Inserts the object if Google has none by its id (one it has is left as it is)."""
        ...

    async def patch_object(
        self, credentials: GoogleWalletCredentials, body: dict[str, Any], values: dict[str, Any]
    ) -> int:
        """Patches the object with ``values``; inserts ``body`` when Google has lost it.
        Returns the status Google answered."""
        ...


class GoogleWalletFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What storing a program's Google Wallet settings is decided on."""

    program_id: UUID
    now: datetime


class LeasedGoogleWalletObject(msgspec.Struct, frozen=True, kw_only=True):
    """A card's object with a change to send, leased to one worker for a while."""

    program_id: UUID
    card_number: str
    changes: int  # the count of changes this patch covers
    attempts: int  # this one included


class GoogleWalletStore(Protocol):
    async def google_wallet_facts(
        self, program_id: UUID, scope: UUID | None
    ) -> GoogleWalletFacts | None: ...
    async def put_google_wallet_settings(
        self, settings: GoogleWalletSettings, private_key: str, key_id: UUID, now: datetime,
        answer: Answer,
    ) -> bool: ...  # fmt: skip
    async def google_wallet_settings(
        self, program_id: UUID, scope: UUID | None
    ) -> GoogleWalletSettings | None: ...
    async def google_wallet_credentials(
        self, program_id: UUID
    ) -> GoogleWalletCredentials | None: ...
    async def claim_wallet_object(
        self, program_id: UUID, card_number: str, object_id: str, class_id: str
    ) -> bool:
        """Records the card's object (once); True when Google already has it inserted."""
        ...

    async def wallet_object_inserted(self, program_id: UUID, card_number: str) -> None: ...
    async def lease_wallet_objects(
        self, limit: int, lease_seconds: float
    ) -> list[LeasedGoogleWalletObject]: ...
    async def wallet_object_patched(
        self, program_id: UUID, card_number: str, changes: int, status: int
    ) -> None: ...
    async def wallet_object_failed(
        self,
        program_id: UUID,
        card_number: str,
        delay_seconds: float,
        status: int | None,
        error: str,
    ) -> None: ...
    async def google_wallet_backlog_counts(self) -> dict[str, int]: ...


class PromoStore(Protocol):
    """Promo campaigns and their codes (decision 0032)."""

    async def insert_promo_campaign(self, campaign: PromoCampaignRecord, answer: Answer) -> bool:
        """The campaign with its answer; False when the key already has one."""
        ...

    async def get_promo_campaign(
        self, campaign_id: UUID, program_id: UUID
    ) -> PromoCampaignRecord | None:
        """With its usage; None when not there or not the program's."""
        ...

    async def list_promo_campaigns(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[PromoCampaignRecord]: ...

    async def end_promo_campaign(
        self, campaign_id: UUID, program_id: UUID, now: datetime, answer: Answer
    ) -> bool:
        """Ends a running campaign at ``now`` with its answer; False when the key already has
        one or the campaign ended meanwhile."""
        ...

    async def insert_promo_codes(
        self, codes: list[PromoCodeRecord], program_id: UUID, answer: Answer
    ) -> bool:
        """The codes with their answer; False when the key already has one, the campaign is
        not there, or a code was taken in the program meanwhile."""
        ...

    async def promo_codes_of(self, campaign_id: UUID) -> list[PromoCodeRecord]:
        """Every code of the campaign, oldest first."""
        ...

    async def find_promo_codes(
        self, program_id: UUID, account_id: UUID, codes: tuple[str, ...]
    ) -> dict[str, PromoCode]:
        """The program's stored codes among ``codes`` (normalized), with their campaigns and the
        customer's uses of each."""
        ...

    async def promo_code_taken(self, program_id: UUID, code: str) -> bool:
        """Whether the program has the code (normalized) already, in any campaign."""
        ...

    async def customer_in_program(self, customer_id: UUID, program_id: UUID) -> bool: ...


class StoredCertificate(msgspec.Struct, frozen=True, kw_only=True):
    """A certificate as stored: the core's view and its PIN's HMAC with the key it was made
    under."""

    certificate: Certificate
    pin_hmac: bytes
    pin_key_id: str


class NewCertificates(msgspec.Struct, frozen=True, kw_only=True):
    program_id: UUID
    currency: str
    batch_id: UUID
    ids: list[UUID]
    numbers: list[str]
    pin_hmacs: list[bytes]
    pin_key_id: str
    nominal_minor: int
    expires_at: datetime
    store_id: str | None
    issued_at: datetime


class CertificateWrite(msgspec.Struct, frozen=True, kw_only=True):
    """One money operation on a certificate: its entries by account kind (``certificate`` is
    the certificate's own account), the balance and status it leaves, and its outbox event."""

    id: UUID
    program_id: UUID
    certificate_id: UUID
    type: str
    amount_minor: int
    balance_after: int
    status: str
    entries: tuple[tuple[str, int], ...]
    created_at: datetime
    channel: str
    key_id: UUID | None = None
    store_id: str | None = None
    document_id: str | None = None
    ledger_operation_id: UUID | None = None
    refund_of: UUID | None = None
    event_type: str
    event_payload: dict[str, Any]


class CertificateOperationRow(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    seq: int
    type: str
    amount_minor: int
    balance_after: int
    ledger_operation_id: UUID | None
    refund_of: UUID | None
    refunded_minor: int
    document_id: str | None
    store_id: str | None
    key_id: UUID | None
    channel: str
    created_at: datetime


class CertificateStore(Protocol):
    """Gift certificates (decision 0033): the money accounts, certificates and their money
    operations."""

    async def certificate_program(
        self, program_id: UUID, scope: UUID | None
    ) -> tuple[UUID, str] | None: ...
    async def ensure_money_accounts(self, program_id: UUID, currency: str) -> None: ...
    async def insert_certificates(self, batch: NewCertificates) -> None: ...
    async def lock_certificate(
        self, certificate_id: UUID, scope: UUID | None
    ) -> StoredCertificate | None: ...
    async def lock_certificates_by_number(
        self, program_id: UUID, numbers: list[str]
    ) -> list[StoredCertificate]: ...
    async def lock_certificates(self, ids: list[UUID]) -> list[StoredCertificate]: ...
    async def get_certificate(
        self, certificate_id: UUID, scope: UUID | None
    ) -> StoredCertificate | None: ...
    async def list_certificates(
        self,
        program_id: UUID,
        state: str | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[Certificate]: ...
    async def certificate_statement(
        self, certificate_id: UUID, before: int | None, limit: int
    ) -> list[CertificateOperationRow]: ...
    async def rekey_certificate_pin(
        self, certificate_id: UUID, pin_hmac: bytes, key_id: str
    ) -> None: ...

    async def certificate_pins_under_older_keys(self, current_key_id: str) -> int:
        """Certificates that can still be paid with whose PIN is kept under another master
        key (a PIN is an HMAC: only its next right entry can move it to the current key)."""
        ...

    async def set_certificate_wrong_pins(
        self, certificate_id: UUID, wrong_pins: int, blocks: bool, now: datetime
    ) -> None: ...
    async def unblock_certificate(self, certificate_id: UUID) -> None: ...
    async def close_certificate(self, certificate_id: UUID) -> None: ...
    async def write_certificate_operation(self, write: CertificateWrite) -> None: ...
    async def certificate_redemptions(self, ledger_operation_id: UUID) -> list[Redemption]: ...
    async def due_certificates(self, limit: int, program_id: UUID | None) -> list[UUID]: ...
    async def certificates_liability(self, program_id: UUID) -> dict[str, int]: ...


class DonationStore(Protocol):
    """Charities and what they received (decision 0034)."""

    async def insert_charity(
        self, charity: CharityRecord, key_id: UUID, answer: Answer
    ) -> bool: ...
    async def get_charity(
        self, charity_id: UUID, program_id: UUID | None
    ) -> CharityRecord | None: ...
    async def list_charities(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[CharityRecord]: ...
    async def charity_totals(
        self, charity_id: UUID, starts: datetime, ends: datetime
    ) -> CharityTotals: ...


class StoredMembership(msgspec.Struct, frozen=True, kw_only=True):
    """A membership as stored (decision 0035): the core's view, its row version (a change is
    written only at the version it was decided on), its status as last written, the money its
    current period was paid with and a cancellation's refund."""

    membership: Membership
    version: int
    status: str
    paid_minor: int = 0
    refund_minor: int | None = None


class LevelRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A membership level with its program and when it was made."""

    level: Level
    program_id: UUID
    key_id: UUID | None
    created_at: datetime


class MembershipFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What a purchase, renewal or cancellation is decided on (``membership_facts``)."""

    now: datetime
    customer_found: bool
    currency: str | None  # the program's; None: no such program
    levels: int
    level: Level | None
    membership: StoredMembership | None  # the one in force as last written
    document_taken: bool


class MembershipPaymentRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    type: str
    amount_minor: int
    currency: str
    period_starts_at: datetime
    period_ends_at: datetime
    channel: str
    store_id: str | None
    document_id: str
    key_id: UUID | None
    created_at: datetime


class MembershipWrite(msgspec.Struct, frozen=True, kw_only=True):
    """A membership started, renewed or cancelled, with its payment and its outbox event."""

    membership: Membership
    program_id: UUID
    version: int  # the version decided on (0 for a purchase)
    status: str
    refund_minor: int | None
    payment: MembershipPaymentRecord
    event_type: str
    event_payload: str  # JSON


class MembershipStore(Protocol):
    """Paid membership (decision 0035): levels, memberships and their money."""

    async def insert_membership_level(self, record: LevelRecord, answer: Answer) -> bool: ...
    async def membership_levels(self, program_id: UUID) -> list[LevelRecord]: ...
    async def membership_facts(
        self,
        customer_id: UUID,
        program_id: UUID,
        level_id: UUID | None,
        document_id: str,
        payment_type: str,
    ) -> MembershipFacts: ...
    async def start_membership(self, write: MembershipWrite, answer: Answer) -> bool: ...
    async def change_membership(self, write: MembershipWrite, answer: Answer) -> bool: ...
    async def customer_membership(
        self, customer_id: UUID, program_id: UUID
    ) -> StoredMembership | None: ...
    async def sweep_memberships(
        self, now: datetime, limit: int, customer_id: UUID | None = None
    ) -> dict[str, int]: ...


class PromoterStore(Protocol):
    """Promoters, their customers and rewards (decision 0034)."""

    async def promoter_facts(
        self, program_id: UUID, customer_id: UUID, code: str
    ) -> PromoterFacts: ...
    async def insert_promoter(
        self, promoter: PromoterRecord, key_id: UUID, answer: Answer
    ) -> bool: ...
    async def get_promoter(self, promoter_id: UUID, program_id: UUID) -> PromoterRecord | None: ...
    async def list_promoters(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[PromoterRecord]: ...
    async def attribute_to_promoter(
        self, customer_id: UUID, program_id: UUID, code: str
    ) -> bool: ...
    async def promoter_due(self, customer_id: UUID) -> PromoterDue | None: ...
    async def insert_promoter_reward(self, reward: PromoterReward) -> bool: ...
    async def promoter_clawback_due(self, purchase_id: UUID) -> RewardDue | None: ...
    async def settle_promoter_clawback(
        self, customer_id: UUID, clawback_id: UUID, points: int, reward_operation_id: UUID
    ) -> bool: ...


class Store(
    PromoterStore,
    DonationStore,
    MembershipStore,
    PromoStore,
    Turns,
    Idempotency,
    LedgerStore,
    LoyaltyStore,
    KeyStore,
    CustomerStore,
    ImportStore,
    WebhookStore,
    ChannelStore,
    Bitrix24AppStore,
    MessageStore,
    SegmentStore,
    CampaignStore,
    TriggerStore,
    MerchantStore,
    ReportStore,
    WalletStore,
    CustomerReportStore,
    EnrollmentStore,
    GoogleWalletStore,
    CertificateStore,
    Protocol,
):
    """Everything one connection can do: the plan writer and every area's reads and writes.
    A use case that needs less takes the area's protocol."""

    async def fetch_named(self, name: str, *args: Any) -> list[Any]: ...


class Database(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Store]: ...
    def reader(self) -> AbstractAsyncContextManager[Store]: ...
    def snapshot(self) -> AbstractAsyncContextManager[Store]: ...


class AccountLocks(Protocol):
    """Mutual exclusion per account across processes. Only reduces contention: Postgres row
    locks keep the ledger correct with or without it."""

    def around(self, account_id: UUID) -> AbstractAsyncContextManager[None]: ...
