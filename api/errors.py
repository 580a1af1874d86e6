"""The one table that maps each rejection to an HTTP status, and the problem+json it renders.

409 means the request was valid but conflicts with the current state (balance, hold status,
an existing customer or document); 422 is reserved for idempotency keys reused with a different
body, as the IETF idempotency draft asks.
"""

from typing import Final

import msgspec

from processing.core.rejections import Rejection
from processing.service.records import Refused, StoredResponse
from schemas.api import Problem

problem_media_type: Final = "application/problem+json"
problem_base: Final = "https://bonus.example/problems/"

PROBLEMS: Final[dict[Rejection, tuple[int, str]]] = {
    Rejection.unauthorized: (401, "Missing or unknown API key"),
    Rejection.authentication_throttled: (429, "Too many failed authentications"),
    Rejection.forbidden_scope: (403, "The API key's scopes do not allow this call"),
    Rejection.payload_too_large: (413, "Request body too large"),
    Rejection.headers_too_large: (431, "Request header fields too large"),
    Rejection.request_timeout: (408, "The request was not received in time"),
    Rejection.server_busy: (503, "The server is busy"),
    Rejection.method_not_allowed: (405, "Method not allowed"),
    Rejection.idempotency_request_in_progress: (409, "A request with this key is in progress"),
    Rejection.idempotency_key_reused: (422, "Idempotency-Key reused with a different request"),
    Rejection.program_key_required: (403, "This call needs a key that belongs to a program"),
    Rejection.install_link_invalid: (403, "The install link is unknown, used or expired"),
    Rejection.validation_error: (400, "Invalid request"),
    Rejection.url_not_allowed: (400, "URL not allowed as a destination"),
    Rejection.not_found: (404, "Not found"),
    Rejection.hold_not_found: (404, "Hold not found"),
    Rejection.card_not_found: (404, "Card not found"),
    Rejection.customer_exists: (409, "Customer already enrolled"),
    Rejection.customer_erased: (409, "Customer's personal data erased"),
    Rejection.customer_merged: (409, "Customer merged into another"),
    Rejection.customer_has_active_holds: (409, "Customer has active holds"),
    Rejection.webhook_limit_reached: (409, "The program has as many webhooks as it may"),
    Rejection.inbox_event_not_dead: (409, "Only a dead inbox event is retried"),
    Rejection.portal_connected_elsewhere: (409, "The portal is connected to another program"),
    Rejection.card_exists: (409, "Card number already in use"),
    Rejection.campaign_not_cancellable: (409, "The campaign has ended"),
    Rejection.store_assigned_elsewhere: (409, "The store belongs to another merchant"),
    Rejection.settlement_period_overlaps: (409, "The period overlaps a closed statement"),
    Rejection.wallet_not_configured: (409, "The program's wallet cards are not set up"),
    Rejection.enrollment_page_closed: (409, "The program has no open enrollment page"),
    Rejection.no_address_on_channel: (409, "The customer has no address on this channel"),
    Rejection.card_blocked: (409, "Card blocked"),
    Rejection.card_not_blocked: (409, "Card not blocked"),
    Rejection.hold_already_committed: (409, "Hold already committed"),
    Rejection.hold_already_cancelled: (409, "Hold already cancelled"),
    Rejection.hold_expired: (409, "Hold expired"),
    Rejection.account_blocked: (409, "Account blocked"),
    Rejection.duplicate_document: (409, "Document already applied"),
    Rejection.hold_ttl_exceeds_maximum: (409, "Hold TTL above the program's maximum"),
    Rejection.commit_exceeds_hold: (409, "Commit exceeds the held points"),
    Rejection.redemption_exceeds_limit: (409, "Points exceed what the receipt lets them pay"),
    Rejection.reservation_required: (409, "Points pay only through a reservation"),
    Rejection.operation_not_refundable: (409, "Operation cannot be refunded"),
    Rejection.refund_exceeds_original: (409, "Refund exceeds the original operation"),
    Rejection.activation_after_expiry: (409, "Activation after expiry"),
    Rejection.expiry_in_past: (409, "Expiry in the past"),
    Rejection.balance_limit_exceeded: (409, "Balance limit exceeded"),
    Rejection.points_limit_exceeded: (409, "Points above what this key may create"),
    Rejection.bonus_not_configured: (409, "The program's rules grant no such bonus"),
    Rejection.not_birthday_week: (409, "Not the customer's birthday week"),
    Rejection.bonus_already_granted: (409, "Bonus already granted in this period"),
    Rejection.insufficient_points: (409, "Insufficient points"),
    Rejection.promo_code_refused: (409, "Promo code refused"),
    Rejection.promo_code_exists: (409, "Promo code exists"),
    Rejection.promo_campaign_ended: (409, "The promo campaign has ended"),
    Rejection.membership_level_exists: (409, "The program has a membership level of this name"),
    Rejection.membership_exists: (409, "The customer's membership is in force"),
    Rejection.membership_not_active: (409, "No membership in force to renew or cancel"),
    Rejection.certificate_not_found: (404, "No such gift certificate"),
    Rejection.charity_not_found: (404, "No such charity"),
    Rejection.promoter_code_taken: (409, "Promoter code taken"),
    Rejection.promoter_not_found: (404, "No promoter with this code"),
    Rejection.enrollment_page_missing: (409, "The program has no enrollment page"),
    Rejection.certificate_pin_invalid: (422, "Wrong gift certificate PIN"),
    Rejection.certificate_pin_key_missing: (
        503,
        "The secrets key the gift certificate's PIN is kept under is not configured",
    ),
    Rejection.certificate_blocked: (409, "The gift certificate is blocked after wrong PINs"),
    Rejection.certificate_not_active: (409, "The gift certificate was not sold"),
    Rejection.certificate_expired: (409, "The gift certificate has expired"),
    Rejection.certificate_insufficient_balance: (409, "Insufficient gift certificate balance"),
    Rejection.certificate_exceeds_receipt: (409, "Certificates pay more than the receipt's money"),
    Rejection.sms_rate_limited: (429, "Too many SMS codes sent to this customer"),
    Rejection.sms_attempts_exceeded: (409, "Too many wrong codes: the check is spent"),
    Rejection.sms_code_expired: (409, "SMS code expired"),
    Rejection.sms_code_invalid: (409, "Wrong SMS code"),
    Rejection.sms_not_sent: (502, "The SMS provider did not take the message"),
    Rejection.partner_unavailable: (502, "The partner's API did not answer as it should"),
}


def problem_of(refused: Refused) -> Problem:
    status, title = PROBLEMS[refused.rejection]
    extra = refused.extra or {}
    return Problem(
        type=problem_base + refused.rejection.value,
        title=title,
        status=status,
        code=refused.rejection.value,
        detail=refused.detail,
        field=refused.field,
        customer_id=extra.get("customer_id"),
        operation_id=extra.get("operation_id"),
        hold_id=extra.get("hold_id"),
    )


def render_problem(refused: Refused) -> StoredResponse:
    problem = problem_of(refused)
    return StoredResponse(
        status_code=problem.status,
        media_type=problem_media_type,
        body=msgspec.json.encode(problem),
        outcome=problem.code,
    )


class ProblemError(Exception):
    """Raised by guards and request parsing, before a service is called."""

    def __init__(self, refused: Refused) -> None:
        super().__init__(refused.detail)
        self.refused = refused


def problem(rejection: Rejection, detail: str, field: str | None = None) -> ProblemError:
    """A refusal to raise from a receiver, where there is no service call to answer it."""
    return ProblemError(Refused(rejection=rejection, detail=detail, field=field))
