"""A customer's personal data changes through the API as an operator or a CRM changes it: a
field given moves, a field left out stays, null clears; a new phone must be free in the
program; every change is kept in the customer's history with its key and reason; a refused
or repeated change writes nothing more."""

import asyncio
from collections import Counter
from typing import Any

from tests.api.test_auth_and_tenancy import assert_problem, make_key
from tests.api.test_consent_and_erasure import erase
from tests.conftest import Api, make_program


async def edit(api: Api, customer: str, body: dict[str, Any], **kwargs: Any) -> Any:
    return await api.client.patch(
        f"/v1/customers/{customer}",
        json=body,
        headers=api.headers(
            kwargs.get("key") or api.admin_key, kwargs.get("idempotency_key", "auto")
        ),
    )


async def history(api: Api, customer: str, **params: Any) -> dict[str, Any]:
    response = await api.get(f"/v1/customers/{customer}/changes", key=api.admin_key, **params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_given_fields_move_left_out_ones_stay_and_the_history_says_what_moved(
    api: Api,
) -> None:
    enrolled = await api.post(
        "/v1/customers",
        {
            "phone": "+79124000001",
            "name": "Anna",
            "email": "anna@example.com",
            "birthday": "1990-05-01",
            "attributes": {"city": "Perm"},
        },
    )
    assert enrolled.status_code == 201, enrolled.text
    customer = enrolled.json()["id"]
    assert enrolled.json()["email"] == "anna@example.com"

    changed = await edit(
        api, customer, {"phone": "8 912 400-00-02", "email": None, "reason": "new SIM card"}
    )

    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert (after["phone"], after["name"], after["email"], after["birthday"]) == (
        "+79124000002",
        "Anna",
        None,
        "1990-05-01",
    )
    assert (await api.get(f"/v1/customers/{customer}")).json() == after
    found = await api.get("/v1/customers", phone="+79124000002")
    assert found.json()["id"] == customer
    old = await api.get("/v1/customers", phone="+79124000001")
    assert_problem(old, 404, "not_found")
    (entry,) = (await history(api, customer))["items"]
    assert entry["changes"] == {
        "phone": {"from": "+79124000001", "to": "+79124000002"},
        "email": {"from": "anna@example.com", "to": None},
    }
    assert entry["reason"] == "new SIM card"

    renamed = await edit(api, customer, {"name": "Anna Petrova", "attributes": {}})
    assert renamed.status_code == 200, renamed.text
    newest, oldest = (await history(api, customer))["items"]
    assert newest["changes"] == {
        "name": {"from": "Anna", "to": "Anna Petrova"},
        "attributes": {"from": {"city": "Perm"}, "to": {}},
    }
    assert oldest == entry
    assert (await history(api, customer, limit=1))["next_cursor"] is not None


async def test_a_change_to_what_is_already_there_records_nothing(api: Api) -> None:
    customer = await api.customer(phone="+79124000003")
    same = await edit(api, customer, {"phone": "+79124000003", "name": None})
    assert same.status_code == 200, same.text
    assert (await history(api, customer))["items"] == []


async def test_a_phone_of_another_customer_is_refused_and_nothing_changes(api: Api) -> None:
    first = await api.customer(phone="+79124000004")
    second = await api.customer(phone="+79124000005")

    taken = await edit(api, second, {"phone": "+79124000004", "name": "Boris"})

    assert_problem(taken, 409, "customer_exists")
    assert (taken.json()["field"], taken.json()["customer_id"]) == ("phone", first)
    shown = (await api.get(f"/v1/customers/{second}")).json()
    assert (shown["phone"], shown["name"]) == ("+79124000005", None)
    assert (await history(api, second))["items"] == []


async def test_bad_values_are_refused_by_field(api: Api) -> None:
    customer = await api.customer(phone="+79124000006")
    cases = {
        "phone": {"phone": "12345"},
        "email": {"email": "not an address"},
        "birthday": {"birthday": "yesterday"},
    }
    for field, body in cases.items():
        response = await edit(api, customer, body)
        assert_problem(response, 400, "validation_error")
        assert field in response.text, response.text
    cleared_phone = await edit(api, customer, {"phone": None})
    assert_problem(cleared_phone, 400, "validation_error")
    unknown = await edit(api, customer, {"nickname": "Bo"})
    assert_problem(unknown, 400, "validation_error")
    assert (await history(api, customer))["items"] == []


async def test_a_replay_answers_the_same_and_records_once(api: Api) -> None:
    customer = await api.customer(phone="+79124000007")
    body = {"name": "Vera"}
    first = await edit(api, customer, body, idempotency_key="edit-once")
    again = await edit(api, customer, body, idempotency_key="edit-once")
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.content == again.content
    assert len((await history(api, customer))["items"]) == 1


async def test_one_phone_given_to_many_customers_at_once_goes_to_one(api: Api) -> None:
    customers = [await api.customer(phone=f"+7912410000{n}") for n in range(8)]

    answers = await asyncio.gather(
        *(edit(api, customer, {"phone": "+79124199999"}) for customer in customers)
    )

    codes = Counter(
        answer.status_code if answer.is_success else answer.json()["code"] for answer in answers
    )
    assert codes == {200: 1, "customer_exists": 7}
    (winner,) = [answer.json()["id"] for answer in answers if answer.status_code == 200]
    assert (await api.get("/v1/customers", phone="+79124199999")).json()["id"] == winner


async def test_another_program_and_a_till_cannot_edit_or_read_the_history(api: Api) -> None:
    customer = await api.customer(phone="+79124000008")
    other_program, _, _ = await make_program(api.runtime, "Another program")
    stranger = (await make_key(api, other_program, ["crm"]))["key"]

    assert_problem(await edit(api, customer, {"name": "X"}, key=stranger), 404, "not_found")
    foreign = await api.get(f"/v1/customers/{customer}/changes", key=stranger)
    assert_problem(foreign, 404, "not_found")
    till = await edit(api, customer, {"name": "X"}, key=api.pos_key)
    assert_problem(till, 403, "forbidden_scope")
    assert (await api.get(f"/v1/customers/{customer}")).json()["name"] is None


async def test_a_locale_is_set_at_enrolment_changed_and_cleared_with_its_history(
    api: Api,
) -> None:
    plain = await api.post("/v1/customers", {"phone": "+79124000011"})
    english = await api.post("/v1/customers", {"phone": "+79124000012", "locale": "en"})
    assert (plain.status_code, english.status_code) == (201, 201), english.text
    assert (plain.json()["locale"], english.json()["locale"]) == (None, "en")
    customer = english.json()["id"]
    assert (await api.get(f"/v1/customers/{customer}")).json()["locale"] == "en"
    found = await api.get("/v1/customers", phone="+79124000012")
    assert found.json()["locale"] == "en"

    kazakh = await edit(api, customer, {"locale": "kk", "reason": "asked at the till"})
    assert kazakh.status_code == 200, kazakh.text
    assert kazakh.json()["locale"] == "kk"
    cleared = await edit(api, customer, {"locale": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["locale"] is None
    left_out = await edit(api, customer, {"name": "Emma"})
    assert (left_out.json()["locale"], left_out.json()["name"]) == (None, "Emma")

    newest, middle, oldest = (await history(api, customer))["items"]
    assert oldest["changes"] == {"locale": {"from": "en", "to": "kk"}}
    assert middle["changes"] == {"locale": {"from": "kk", "to": None}}
    assert newest["changes"] == {"name": {"from": None, "to": "Emma"}}


async def test_a_bad_locale_is_refused_naming_the_field_and_nothing_is_written(api: Api) -> None:
    for bad in ("EN", "eng", "e", "r1", "", "en\n", 7):
        enrolled = await api.post("/v1/customers", {"phone": "+79124000013", "locale": bad})
        assert_problem(enrolled, 400, "validation_error")
        assert enrolled.json()["field"] == "locale", enrolled.text
    assert_problem(await api.get("/v1/customers", phone="+79124000013"), 404, "not_found")

    customer = await api.customer(phone="+79124000014")
    for bad in ("RU", "rus", 1):
        changed = await edit(api, customer, {"locale": bad, "name": "Ivan"})
        assert_problem(changed, 400, "validation_error")
        assert changed.json()["field"] == "locale", changed.text
    shown = (await api.get(f"/v1/customers/{customer}")).json()
    assert (shown["locale"], shown["name"]) == (None, None)
    assert (await history(api, customer))["items"] == []


async def test_an_erasure_clears_the_locale(api: Api) -> None:
    created = await api.post("/v1/customers", {"phone": "+79124000015", "locale": "en"})
    customer = created.json()["id"]
    erased = await erase(api, customer)
    assert erased.status_code == 200, erased.text
    assert erased.json()["locale"] is None
    assert (await api.get(f"/v1/customers/{customer}")).json()["locale"] is None
