"""Personal data as Russian law 152-FZ asks a business to keep it: marketing consent per channel
with the proof of when, how and to what wording it was given or withdrawn, and erasure of a
customer's personal data on request that leaves the books whole (the ledger reconciles, the
operations stay) and nothing personal anywhere the API can show."""

from typing import Any

from tests.api.test_auth_and_tenancy import assert_problem, make_key
from tests.conftest import Api, make_program
from tests.invariants import assert_ledger_clean


async def consent(api: Api, customer: str, channel: str, granted: bool, **fields: Any) -> Any:
    body = {"channel": channel, "granted": granted, "source": "till", **fields}
    return await api.post(f"/v1/customers/{customer}/consents", body)


async def consents(api: Api, customer: str, **params: Any) -> dict[str, Any]:
    response = await api.get(f"/v1/customers/{customer}/consents", **params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def erase(api: Api, customer: str, **kwargs: Any) -> Any:
    return await api.post(
        f"/v1/customers/{customer}/erase",
        {"reason": "the customer asked"},
        key=kwargs.get("key", api.admin_key),
        idempotency_key=kwargs.get("idempotency_key", "auto"),
    )


async def test_the_newest_consent_per_channel_is_in_force_and_the_log_keeps_all(
    api: Api,
) -> None:
    customer = await api.customer()

    given = await consent(api, customer, "sms", True, wording="offers-v1")
    email = await consent(api, customer, "email", True)
    withdrawn = await consent(api, customer, "sms", False)

    assert [answer.status_code for answer in (given, email, withdrawn)] == [201] * 3
    assert (given.json()["channel"], given.json()["granted"], given.json()["wording"]) == (
        "sms",
        True,
        "offers-v1",
    )
    page = await consents(api, customer)
    in_force = {entry["channel"]: entry["granted"] for entry in page["in_force"]}
    assert in_force == {"sms": False, "email": True}
    assert [entry["id"] for entry in page["items"]] == [
        withdrawn.json()["id"],
        email.json()["id"],
        given.json()["id"],
    ]
    first = await consents(api, customer, limit=2)
    rest = await consents(api, customer, limit=2, cursor=first["next_cursor"])
    assert [entry["id"] for entry in first["items"] + rest["items"]] == [
        entry["id"] for entry in page["items"]
    ]
    assert rest["next_cursor"] is None


async def test_a_consent_for_an_unknown_channel_or_customer_is_refused(api: Api) -> None:
    customer = await api.customer()
    unknown = await consent(api, customer, "pigeon", True)
    assert_problem(unknown, 400, "validation_error")
    no_source = await api.post(
        f"/v1/customers/{customer}/consents", {"channel": "sms", "granted": True}
    )
    assert_problem(no_source, 400, "validation_error")
    missing = await consent(api, "00000000-0000-4000-8000-000000000000", "sms", True)
    assert_problem(missing, 404, "not_found")
    assert (await consents(api, customer))["items"] == []


async def test_erasure_removes_every_personal_field_and_keeps_the_books(api: Api) -> None:
    enrolled = await api.post(
        "/v1/customers",
        {
            "phone": "+79125000001",
            "name": "Anna",
            "email": "anna@example.com",
            "birthday": "1990-05-01",
            "attributes": {"city": "Perm"},
            "card_number": "E-1",
        },
    )
    assert enrolled.status_code == 201, enrolled.text
    customer = enrolled.json()["id"]
    await api.accrue(customer, 120)
    renamed = await api.client.patch(
        f"/v1/customers/{customer}",
        json={"name": "Anna Petrova"},
        headers=api.headers(api.admin_key),
    )
    assert renamed.status_code == 200, renamed.text
    assert (await consent(api, customer, "sms", True)).status_code == 201
    statement_before = (await api.get(f"/v1/customers/{customer}/operations")).json()

    answer = await erase(api, customer)

    assert answer.status_code == 200, answer.text
    shown = (await api.get(f"/v1/customers/{customer}")).json()
    assert shown == answer.json()
    assert shown["phone"] == f"erased:{customer}"
    assert (shown["name"], shown["email"], shown["birthday"], shown["attributes"]) == (
        None,
        None,
        None,
        {},
    )
    assert shown["erased_at"] is not None
    assert (shown["blocked"], shown["blocked_reason"]) == (True, "erased")
    assert shown["cards"] == [{"number": "E-1", "status": "deleted", "reason": "erased"}]
    everything = (await api.get(f"/v1/customers/{customer}/changes", key=api.admin_key)).text
    for personal in ("+79125000001", "Anna", "anna@example.com", "1990-05-01", "Perm"):
        assert personal not in everything
    in_force = {
        entry["channel"]: entry["granted"] for entry in (await consents(api, customer))["in_force"]
    }
    assert in_force == {"sms": False}
    gone = await api.get("/v1/customers", phone="+79125000001")
    assert_problem(gone, 404, "not_found")
    card = await api.get("/v1/customers", card="E-1")
    assert_problem(card, 409, "card_blocked")
    # The books stay: the same statement, the same points, and a reconciling ledger.
    assert (await api.get(f"/v1/customers/{customer}/operations")).json() == statement_before
    assert (await api.balance(customer))["available"] == 120
    spend = await api.reserve(customer, 10)
    assert_problem(spend, 409, "account_blocked")
    await assert_ledger_clean(api.runtime)
    # The phone is free again: the person may enroll anew, as a new customer.
    again = await api.post("/v1/customers", {"phone": "+79125000001"})
    assert again.status_code == 201, again.text
    assert again.json()["id"] != customer


async def test_an_erased_customer_cannot_be_changed_or_erased_again(api: Api) -> None:
    customer = await api.customer()
    first = await erase(api, customer, idempotency_key="erase-once")
    replay = await erase(api, customer, idempotency_key="erase-once")
    assert (first.status_code, first.content) == (replay.status_code, replay.content)

    refusals = [
        await erase(api, customer),
        await api.client.patch(
            f"/v1/customers/{customer}", json={"name": "X"}, headers=api.headers(api.admin_key)
        ),
        await api.post(f"/v1/customers/{customer}/cards", {"number": "E-2"}),
        await consent(api, customer, "email", True),
        await api.post(
            f"/v1/customers/{customer}/unblock", {"reason": "why not"}, key=api.admin_key
        ),
    ]
    for refused in refusals:
        assert_problem(refused, 409, "customer_erased")
    assert (await api.get(f"/v1/customers/{customer}")).json() == first.json()


async def test_only_an_admin_of_the_program_may_erase(api: Api) -> None:
    customer = await api.customer()
    other_program, _, _ = await make_program(api.runtime, "Another program")
    stranger = (await make_key(api, other_program, ["admin"]))["key"]
    crm = (await make_key(api, api.program_id, ["crm"]))["key"]

    assert_problem(await erase(api, customer, key=stranger), 404, "not_found")
    assert_problem(await erase(api, customer, key=crm), 403, "forbidden_scope")
    assert_problem(await erase(api, customer, key=api.pos_key), 403, "forbidden_scope")
    assert (await api.get(f"/v1/customers/{customer}")).json()["erased_at"] is None
