"""The settlement core: a period is refused for each way it can be wrong, naming the field; a
statement's party totals follow its lines and their nets sum to zero; money is exact; a
merchant's key is minted without admin and mints keys of its merchant only."""

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from processing.core import limits
from processing.core.invariants import InvariantViolation
from processing.core.keys import Mint, Minter, decide_mint
from processing.core.model import Rejected
from processing.core.rejections import Rejection
from processing.core.settlement import (
    SettlementLine,
    check_ended,
    check_line_count,
    check_period,
    exact_minor,
    party_totals,
    seen_by,
)

now = datetime(2026, 12, 5, 12, tzinfo=UTC)
alpha, beta = UUID(int=1), UUID(int=2)


def line(
    earning: UUID | None, redeeming: UUID | None, points: int, value: int = 100
) -> SettlementLine:
    return SettlementLine(
        operation_id=uuid4(),
        operation_type="commit" if points > 0 else "refund",
        refund_of=None,
        created_at=now,
        store_id="r",
        merchant_id=redeeming,
        earning_store_id="e",
        earning_merchant_id=earning,
        points=points,
        point_value_minor=value,
        money_minor=exact_minor(points, value),
    )


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (date(2026, 1, 2), date(2026, 1, 2), "to"),
        (date(2026, 1, 3), date(2026, 1, 2), "to"),
        (date(1969, 12, 31), date(1970, 1, 2), "from"),
        (date(2199, 12, 1), date(2200, 1, 1), "to"),
        (date(2026, 1, 1), date(2026, 1, 1) + timedelta(days=93), "to"),
    ],
)
def test_a_wrong_period_is_refused_naming_its_field(start: date, end: date, field: str) -> None:
    refused = check_period(start, end)
    assert isinstance(refused, Rejected)
    assert (refused.rejection, refused.field) == (Rejection.validation_error, field)


def test_a_period_of_the_longest_length_passes() -> None:
    start = date(2026, 1, 1)
    assert check_period(start, start + timedelta(days=limits.settlement_period_days_max)) is None


def test_a_period_not_ended_and_too_many_lines_are_refused() -> None:
    refused = check_ended(now + timedelta(seconds=1), now, "Europe/Moscow")
    assert refused is not None
    assert refused.field == "to"
    assert check_ended(now, now, "Europe/Moscow") is None
    assert check_line_count(limits.settlement_lines_max) is None
    too_many = check_line_count(limits.settlement_lines_max + 1)
    assert too_many is not None
    assert too_many.field == "to"


def test_totals_follow_the_lines_and_sum_to_zero() -> None:
    lines = [line(alpha, beta, 700), line(alpha, beta, -200), line(beta, alpha, 100, 150)]
    lines.append(line(None, alpha, 50))

    totals = party_totals(lines, {beta: "Beta", alpha: "Alpha"})

    assert [total.merchant_name for total in totals] == ["Alpha", "Beta", None]
    by_party = {total.merchant_id: total for total in totals}
    assert (by_party[alpha].receivable_points, by_party[alpha].payable_points) == (150, 500)
    assert (by_party[alpha].receivable_minor, by_party[alpha].payable_minor) == (
        100 * 150 + 50 * 100,
        500 * 100,
    )
    assert by_party[beta].net_minor == 500 * 100 - 100 * 150
    assert by_party[None].net_minor == -5000
    assert sum(total.net_minor for total in totals) == 0


def test_a_merchant_with_no_lines_has_zero_totals_and_a_key_sees_its_own_lines() -> None:
    gamma = UUID(int=3)
    lines = [line(alpha, beta, 10)]
    totals = party_totals(lines, {alpha: "A", beta: "B", gamma: "C"})
    assert [(total.merchant_id, total.net_minor) for total in totals] == [
        (alpha, -1000),
        (beta, 1000),
        (gamma, 0),
        (None, 0),
    ]
    assert seen_by(lines, gamma) == []
    assert seen_by(lines, alpha) == lines


def test_a_line_within_one_party_is_a_bug() -> None:
    with pytest.raises(InvariantViolation):
        party_totals([line(alpha, alpha, 10)], {alpha: "A"})
    with pytest.raises(InvariantViolation):
        exact_minor(10, 0)


def test_a_merchant_key_mints_keys_of_its_merchant_only_and_none_with_admin() -> None:
    merchant = UUID(int=7)
    minter = Minter(operator=False, scopes=frozenset({"admin"}), store_id=None, expires_at=None)
    refused = decide_mint(minter, frozenset({"admin"}), None, None, now, merchant)
    assert isinstance(refused, Rejected)
    assert refused.field == "scopes"
    assert not isinstance(
        decide_mint(minter, frozenset({"crm"}), None, None, now, merchant), Rejected
    )
    of_merchant = Minter(
        operator=False,
        scopes=frozenset({"crm"}),
        store_id=None,
        expires_at=None,
        merchant_id=merchant,
    )
    broader = decide_mint(of_merchant, frozenset({"crm"}), None, None, now, None)
    assert isinstance(broader, Rejected)
    assert (broader.rejection, broader.field) == (Rejection.forbidden_scope, "merchant_id")
    assert not isinstance(
        decide_mint(of_merchant, frozenset({"crm"}), None, None, now, merchant), Rejected
    )


def test_a_merchant_key_names_a_store_of_its_merchant_only() -> None:
    merchant, other = UUID(int=7), UUID(int=8)
    operator = Minter(operator=True, scopes=frozenset({"admin"}), store_id=None, expires_at=None)

    def mint(store_merchant: UUID | None) -> Mint | Rejected:
        return decide_mint(operator, frozenset({"pos"}), "a-1", None, now, merchant, store_merchant)

    for refused in (mint(other), mint(None)):  # another merchant's store, or no merchant's
        assert isinstance(refused, Rejected)
        assert (refused.rejection, refused.field) == (Rejection.validation_error, "store_id")
    assert isinstance(mint(merchant), Mint)
    assert isinstance(
        decide_mint(operator, frozenset({"pos"}), "a-1", None, now, None, other), Mint
    )  # a key of no merchant names any store
