"""The tables the public contract is built from agree with each other: every rejection has an
HTTP status and a title, the codes the issue promises clients exist, and the wire schemas'
bounds are the core's named limits."""

import re
import typing
from typing import Any

import msgspec
import pytest

from api.errors import PROBLEMS
from processing.core import limits
from processing.core.rejections import Rejection
from schemas import base, loyalty, pos

promised_codes = {
    "insufficient_points", "hold_not_found", "hold_expired", "hold_already_committed",
    "hold_already_cancelled", "account_blocked", "card_blocked", "refund_exceeds_original",
    "idempotency_key_reused", "idempotency_request_in_progress", "customer_exists",
    "validation_error", "unauthorized", "forbidden_scope", "not_found",
}  # fmt: skip


# Refusals that are no fault of the caller: a partner we depend on failed, the server is at
# its concurrency cap (api/edge.py), so retrying is right, or its secrets key ring lacks the
# key a gift certificate's PIN is kept under (decision 0033), which its operator must restore.
upstream_failures = {
    Rejection.sms_not_sent: 502,
    Rejection.partner_unavailable: 502,
    Rejection.server_busy: 503,
    Rejection.certificate_pin_key_missing: 503,
}


def test_every_rejection_renders_as_a_problem() -> None:
    assert set(PROBLEMS) == set(Rejection)
    for rejection, (status, title) in PROBLEMS.items():
        assert status == upstream_failures.get(rejection) or 400 <= status < 500
        assert title


def test_the_promised_codes_exist() -> None:
    assert promised_codes <= {rejection.value for rejection in Rejection}


def test_statuses_follow_the_documented_rules() -> None:
    assert PROBLEMS[Rejection.idempotency_key_reused][0] == 422
    assert PROBLEMS[Rejection.validation_error][0] == 400
    assert PROBLEMS[Rejection.unauthorized][0] == 401
    assert PROBLEMS[Rejection.forbidden_scope][0] == 403
    assert PROBLEMS[Rejection.insufficient_points][0] == 409


def meta_of(annotated: Any) -> msgspec.Meta:
    metas = [item for item in typing.get_args(annotated)[1:] if isinstance(item, msgspec.Meta)]
    assert len(metas) == 1
    return metas[0]


@pytest.mark.parametrize(
    ("annotated", "bounds"),
    [
        (base.Points, (1, limits.points_per_operation_max)),
        (base.SignedPoints, (-limits.points_per_operation_max, limits.points_per_operation_max)),
        (base.TtlSeconds, (limits.hold_ttl_seconds_min, limits.hold_ttl_seconds_max_ceiling)),
        (base.ExpiryDays, (1, limits.expiry_days_max)),
        (base.KeyPointsPerCall, (1, limits.key_points_per_call_max_ceiling)),
        (base.KeyPointsPerDay, (1, limits.key_points_per_day_max_ceiling)),
    ],
    ids=["points", "signed-points", "ttl-seconds", "expiry-days", "key-call", "key-day"],
)
def test_numeric_bounds_are_the_core_limits(annotated: Any, bounds: tuple[int, int]) -> None:
    meta = meta_of(annotated)
    assert (meta.ge, meta.le) == bounds


@pytest.mark.parametrize(
    ("annotated", "maximum"),
    [
        (base.Name, limits.name_length_max),
        (base.Reason, limits.reason_length_max),
        (base.Comment, limits.comment_length_max),
        (base.DocumentId, limits.document_id_length_max),
        (base.CardNumber, limits.card_number_length_max),
        (base.Attributes, limits.attributes_count_max),
        (loyalty.MessageText, limits.message_template_characters_max),
    ],
    ids=["name", "reason", "comment", "document-id", "card-number", "attributes", "message"],
)
def test_length_bounds_are_the_core_limits(annotated: Any, maximum: int) -> None:
    assert meta_of(annotated).max_length == maximum


def test_the_sms_code_schema_asks_for_the_digits_the_service_sends() -> None:
    pattern = meta_of(pos.Code).pattern
    assert pattern is not None
    assert re.fullmatch(pattern, "7" * limits.sms_code_digits)
    assert not re.fullmatch(pattern, "7" * (limits.sms_code_digits - 1))
    assert not re.fullmatch(pattern, "7" * (limits.sms_code_digits + 1))


def test_the_rotation_grace_schema_is_the_core_limit() -> None:
    from schemas.api import ApiKeyRotate

    assert ApiKeyRotate().grace_seconds == limits.api_key_rotation_grace_seconds_default
    field = ApiKeyRotate.__annotations__["grace_seconds"]
    assert meta_of(field).le == limits.api_key_rotation_grace_seconds_max
