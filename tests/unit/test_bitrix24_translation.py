"""Bitrix24's wire formats, translated exactly: a form body with PHP bracket keys becomes nested
maps, a won stage is recognised in any pipeline, points fields are whole points or refused,
money goes back as Bitrix24's decimal strings, and a batch answer yields the deal and its
contact or says what is missing."""

from typing import Any

import pytest

from processing.service.partners.bitrix24 import translation as bitrix24
from processing.service.partners.translation import Unusable


def test_a_form_with_bracket_keys_becomes_nested_maps() -> None:
    body = (
        b"event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=759&ts=1736405807"
        b"&auth%5Bdomain%5D=x.bitrix24.ru&auth%5Bapplication_token%5D=tok"
    )
    assert bitrix24.parse_form(body) == {
        "event": "ONCRMDEALUPDATE",
        "data": {"FIELDS": {"ID": "759"}},
        "ts": "1736405807",
        "auth": {"domain": "x.bitrix24.ru", "application_token": "tok"},
    }


@pytest.mark.parametrize("body", [b"a=1&a%5Bb%5D=2", b"a%5Bb%5D=2&a=1", b"&".join([b"k=1"] * 201)])
def test_a_form_that_is_no_map_or_too_big_is_refused(body: bytes) -> None:
    with pytest.raises(Unusable):
        bitrix24.parse_form(body)


def deal(stage: str, semantic: str | None = None) -> bitrix24.Deal:
    return bitrix24.Deal(
        id="1", stage_id=stage, stage_semantic=semantic, currency="RUB", opportunity="1.00"
    )


@pytest.mark.parametrize(
    ("stage", "semantic", "won", "open_"),
    [("WON", "S", True, False), ("C3:WON", None, True, False), ("WON", None, True, False),
     ("PAID", "S", True, False),  # a portal's own success stage
     ("LOSE", "F", False, False), ("C1:LOSE", None, False, False),
     ("PREPARATION", "P", False, True), ("C1:NEW", None, False, True)],
)  # fmt: skip
def test_won_and_open_stages_in_any_pipeline(
    stage: str, semantic: str | None, won: bool, open_: bool
) -> None:
    assert (bitrix24.is_won(deal(stage, semantic)), bitrix24.is_open(deal(stage, semantic))) == (
        won,
        open_,
    )


@pytest.mark.parametrize(
    ("raw", "points"), [("150", 150), ("150.00", 150), (150, 150), ("", 0), (None, 0), ("0", 0)]
)
def test_points_fields_are_whole_points(raw: Any, points: int) -> None:
    assert bitrix24.points_in({"UF": raw}, "UF") == points


@pytest.mark.parametrize("raw", ["10.5", "-1", "abc", "1e12", "NaN"])
def test_points_that_are_no_whole_points_are_refused(raw: str) -> None:
    with pytest.raises(Unusable):
        bitrix24.points_in({"UF": raw}, "UF")


@pytest.mark.parametrize(
    ("minor", "currency", "text"), [(970000, "RUB", "9700.00"), (5, "RUB", "0.05"),
                                    (1500, "JPY", "1500"), (0, "USD", "0.00")]
)  # fmt: skip
def test_money_goes_back_as_bitrix24_keeps_it(minor: int, currency: str, text: str) -> None:
    assert bitrix24.money(minor, currency) == text


def batch(results: Any, errors: Any = ()) -> dict[str, Any]:
    return {"result": {"result": results, "result_error": errors or []}, "time": {}}


def test_a_batch_answer_yields_the_deal_and_its_contact() -> None:
    fields = {"ID": "7", "STAGE_ID": "WON", "STAGE_SEMANTIC_ID": "S", "CURRENCY_ID": "RUB",
              "OPPORTUNITY": "1000000.00", "UF_CRM_LOYALTY_WRITEOFF": "5"}  # fmt: skip
    contact = {"ID": "43", "PHONE": [{"ID": "1", "VALUE": "+79120000001", "TYPE_ID": "PHONE"}]}
    read = bitrix24.deal_read_of(batch({"deal": fields, "contacts": [], "contact": contact}))
    assert (read.deal.id, read.deal.opportunity, read.fields["UF_CRM_LOYALTY_WRITEOFF"]) == (
        "7",
        "1000000.00",
        "5",
    )
    assert read.contact is not None
    assert [phone.value for phone in read.contact.phones] == ["+79120000001"]
    no_contact = bitrix24.deal_read_of(batch({"deal": fields, "contacts": []}))
    assert no_contact.contact is None


def test_a_batch_answer_without_the_deal_says_why() -> None:
    missing = batch([], {"deal": {"error": "", "error_description": "Not found"}})
    with pytest.raises(Unusable, match="Not found"):
        bitrix24.deal_read_of(missing)
    with pytest.raises(Unusable, match="not a Bitrix24 batch"):
        bitrix24.deal_read_of({"error": "x"})


def test_errors_are_read_from_both_envelopes() -> None:
    assert bitrix24.error_of({"error": "", "error_description": "Not found"}) == ("", "Not found")
    assert (
        bitrix24.error_of({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many"})[0]
        in bitrix24.rate_limited_errors
    )
    assert bitrix24.error_of({"result": True, "time": {}}) is None
