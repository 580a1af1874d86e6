"""The import's row checks are pure: a customer's consecutive rows make one customer with their
lots, a local phone is read in the program's country, and each kind of invalid field is
refused with its row and column, the same whatever the database holds."""

from datetime import UTC, date, datetime

import pytest

from processing.service.loyalty.export import columns
from processing.service.loyalty.import_rows import header_refusal, read_customers

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def fields(phone: str = "+79120000001", **values: str) -> list[str]:
    row = {column: "" for column in columns} | {"phone": phone, "blocked": "0"} | values
    return [row[column] for column in columns]


def test_consecutive_rows_of_a_customer_make_one_customer_with_their_lots() -> None:
    lot = {"customer_id": "a", "activates_at": "2026-01-01T00:00:00Z", "cards": "C-1 C-2"}
    expiring = "2099-01-01T00:00:00+03:00"
    rows = [
        (2, fields("8 (912) 000-00-01", points="10", **lot)),
        (3, fields("8 (912) 000-00-01", points="5", expires_at=expiring, **lot)),
        (4, fields("+79120000002", birthday="1980-02-29", blocked="1")),
    ]  # fmt: skip
    first, second = read_customers(rows, "RU", NOW)
    assert (first.phone, first.row, first.rows, first.points, first.errors) == (
        "+79120000001", 2, 2, 15, (),
    )  # fmt: skip
    assert first.cards == ("C-1", "C-2")
    assert first.lots[1].expires_at == datetime(2098, 12, 31, 21, tzinfo=UTC)
    assert (second.ordinal, second.birthday, second.lots) == (1, date(1980, 2, 29), ())
    assert second.blocked_reason == "blocked before import"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"phone": "12"}, "phone"),
        ({"cards": "C_1"}, "cards"),
        ({"cards": "C-1", "blocked_cards": "C-1"}, "cards"),
        ({"email": "nobody"}, "email"),
        ({"birthday": "1980-13-01"}, "birthday"),
        ({"birthday": "2027-01-01"}, "birthday"),
        ({"blocked": "yes"}, "blocked"),
        ({"blocked_reason": "why"}, "blocked_reason"),
        ({"name": "x" * 201}, "name"),
        ({"points": "-5", "activates_at": "2026-01-01T00:00:00Z"}, "points"),
        ({"points": "5"}, "activates_at"),
        ({"points": "5", "activates_at": "2026-01-01"}, "activates_at"),
        ({"points": "5", "activates_at": "1960-01-01T00:00:00Z"}, "activates_at"),
        (
            {"points": "5", "activates_at": "2026-01-01T00:00:00Z",
             "expires_at": "2025-01-01T00:00:00Z"},
            "expires_at",
        ),
        ({"activates_at": "2026-01-01T00:00:00Z"}, "points"),
        ({"name": "a\x00b"}, "name"),
    ],
)  # fmt: skip
def test_each_invalid_field_is_refused_with_its_row_and_column(
    values: dict[str, str], field: str
) -> None:
    phone = values.pop("phone", "+79120000001")
    (customer,) = read_customers([(7, fields(phone, **values))], "RU", NOW)
    assert [(error.row, error.field) for error in customer.errors] == [(7, field)]


def test_repeats_and_disagreements_within_the_file_are_refused_on_the_later_row() -> None:
    rows = [
        (2, fields("+79120000001", cards="C-1")),
        (3, fields("+79120000002", customer_id="b", name="Один")),
        (4, fields("+79120000002", customer_id="b", name="Другой")),
        (5, fields("89120000001")),
        (6, fields("+79120000006", cards="C-1")),
    ]
    customers = list(read_customers(rows, "RU", NOW))
    assert [[(e.row, e.field) for e in c.errors] for c in customers] == [
        [], [(4, "name")], [(5, "phone")], [(6, "cards")],
    ]  # fmt: skip


def test_a_header_in_another_separator_is_named() -> None:
    assert header_refusal(list(columns), ";") is None
    assert "--separator ','" in (header_refusal([",".join(columns)], ";") or "")
    assert "not the header" in (header_refusal(["a", "b"], ";") or "")
