"""Expected refusals, returned as values and never raised.

Members are listed in precedence order: when a request is wrong in several ways, the first
that applies is the one reported, so a client always sees the same answer for the same request.
"""

from enum import StrEnum


class Rejection(StrEnum):
    unauthorized = "unauthorized"
    forbidden_scope = "forbidden_scope"
    payload_too_large = "payload_too_large"
    method_not_allowed = "method_not_allowed"
    idempotency_request_in_progress = "idempotency_request_in_progress"
    idempotency_key_reused = "idempotency_key_reused"
    program_key_required = "program_key_required"
    validation_error = "validation_error"
    not_found = "not_found"
    hold_not_found = "hold_not_found"
    card_not_found = "card_not_found"
    customer_exists = "customer_exists"
    card_exists = "card_exists"
    card_blocked = "card_blocked"
    card_not_blocked = "card_not_blocked"
    hold_already_committed = "hold_already_committed"
    hold_already_cancelled = "hold_already_cancelled"
    hold_expired = "hold_expired"
    account_blocked = "account_blocked"
    duplicate_document = "duplicate_document"
    hold_ttl_exceeds_maximum = "hold_ttl_exceeds_maximum"
    commit_exceeds_hold = "commit_exceeds_hold"
    redemption_exceeds_limit = "redemption_exceeds_limit"
    reservation_required = "reservation_required"
    operation_not_refundable = "operation_not_refundable"
    refund_exceeds_original = "refund_exceeds_original"
    activation_after_expiry = "activation_after_expiry"
    expiry_in_past = "expiry_in_past"
    balance_limit_exceeded = "balance_limit_exceeded"
    bonus_not_configured = "bonus_not_configured"
    not_birthday_week = "not_birthday_week"
    bonus_already_granted = "bonus_already_granted"
    insufficient_points = "insufficient_points"
    sms_rate_limited = "sms_rate_limited"
    sms_attempts_exceeded = "sms_attempts_exceeded"
    sms_code_expired = "sms_code_expired"
    sms_code_invalid = "sms_code_invalid"
    sms_not_sent = "sms_not_sent"
