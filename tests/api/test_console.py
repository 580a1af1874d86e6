"""The operator console's rules at the HTTP level: a session only from an admin key and only
through the bad-key throttle, CSRF tokens on every form post, one effect per one-time form key,
refusals shown on the page, the security headers, and both catalogues complete."""

import re
from typing import Any
from uuid import UUID

import httpx

from api.console.sessions import storage_key
from api.console.words import english, russian
from processing.core import limits
from processing.service.admin import create_key
from tests.conftest import Api

_csrf = re.compile(r'name="csrf" value="([^"]+)"')
_adjust_key = re.compile(
    r'class="inline adjust">\s*<input[^>]+>\s*<input type="hidden" '
    r'name="form_key" value="([^"]+)"'
)


async def program_admin_key(api: Api, scopes: list[str] | None = None) -> str:
    async with api.runtime.database.transaction() as store:
        key = await create_key(store, UUID(api.program_id), "console", scopes or ["admin"], None)
    return str(key.key)


async def sign_in(api: Api, key: str, lang: str = "ru") -> httpx.Response:
    return await api.client.post("/console/sign-in", data={"key": key, "lang": lang})


async def signed_in(api: Api) -> str:
    """Signs in with a new program admin key; the client keeps the cookie. Returns the key."""
    key = await program_admin_key(api)
    response = await sign_in(api, key)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console"
    return key


async def card_page(api: Api, customer_id: str) -> tuple[str, str, str]:
    """The customer's page, its CSRF token and the adjustment form's one-time key."""
    response = await api.client.get(f"/console/customers/{customer_id}")
    assert response.status_code == 200, response.text
    return response.text, _csrf.findall(response.text)[0], _adjust_key.findall(response.text)[0]


async def test_the_console_asks_for_a_session_not_a_bearer_key(api: Api) -> None:
    response = await api.client.get("/console")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in"
    page = await api.client.get("/console/sign-in")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Вход в консоль" in page.text
    assert page.headers["content-security-policy"] == (
        "default-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'"
    )
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    english_page = await api.client.get("/console/sign-in", params={"lang": "en"})
    assert "Sign in to the console" in english_page.text


async def test_the_published_api_has_no_console_route(api: Api) -> None:
    document = (await api.client.get("/schema/openapi.json")).json()
    assert not [path for path in document["paths"] if path.startswith("/console")]


async def test_the_cookie_is_http_only_strict_and_scoped(api: Api) -> None:
    key = await program_admin_key(api)
    response = await sign_in(api, key)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/console" in cookie
    assert f"max-age={limits.console_session_seconds}" in cookie
    assert "secure" not in cookie  # plain http here; https requests get Secure
    token = response.cookies["bonus_console"]
    kept = await api.runtime.redis.get(storage_key(token))
    assert kept is not None
    assert token.encode() not in kept
    assert key.encode() not in kept
    assert 0 < await api.runtime.redis.ttl(storage_key(token)) <= limits.console_session_seconds


async def test_a_wrong_key_or_a_key_without_admin_does_not_sign_in(api: Api) -> None:
    wrong = await sign_in(api, "bk_not-a-key")
    assert wrong.status_code == 401
    assert "Ключ не подошёл" in wrong.text
    assert "set-cookie" not in wrong.headers
    till = await sign_in(api, api.pos_key, lang="en")
    assert till.status_code == 403
    assert "no admin scope" in till.text


async def test_failed_sign_ins_take_from_the_api_throttle(api: Api) -> None:
    for _ in range(limits.auth_failures_burst):
        await sign_in(api, "bk_wrong")
    throttled = await sign_in(api, "bk_wrong")
    assert throttled.status_code == 429
    # The same allowance answers the API's bearer check from this address.
    response = await api.client.get("/v1/customers", headers={"Authorization": "Bearer bk_x"})
    assert response.status_code == 429


async def test_adjusting_needs_the_csrf_token_and_happens_once(api: Api) -> None:
    customer_id = await api.customer()
    await signed_in(api)
    _, csrf, form_key = await card_page(api, customer_id)
    form = {"csrf": csrf, "form_key": form_key, "points": "150", "reason": "goodwill"}
    without = await api.client.post(
        f"/console/customers/{customer_id}/adjustments", data={**form, "csrf": ""}
    )
    assert without.status_code == 403
    forged = await api.client.post(
        f"/console/customers/{customer_id}/adjustments", data={**form, "csrf": "x" * 43}
    )
    assert forged.status_code == 403
    assert (await api.balance(customer_id))["available"] == 0
    for _ in range(2):  # the same form sent twice
        done = await api.client.post(f"/console/customers/{customer_id}/adjustments", data=form)
        assert done.status_code == 303
        assert done.headers["location"] == f"/console/customers/{customer_id}?done=adjusted"
    assert (await api.balance(customer_id))["available"] == 150
    page, _, _ = await card_page(api, customer_id)
    assert "goodwill" in page


async def test_bad_input_and_refusals_are_shown_on_the_page(api: Api) -> None:
    customer_id = await api.customer()
    await signed_in(api)
    _, csrf, form_key = await card_page(api, customer_id)
    path = f"/console/customers/{customer_id}/adjustments"
    cases: list[dict[str, Any]] = [
        {"points": "ten", "reason": "x"},
        {"points": "0", "reason": "x"},
        {"points": "5", "reason": ""},
        {"points": "5", "reason": "a\x00b"},
    ]
    for fields, shown in zip(cases, ["Баллы", "Баллы", "Поле", "Поле"], strict=True):
        response = await api.client.post(path, data={"csrf": csrf, "form_key": form_key, **fields})
        assert response.status_code == 422, (fields, response.text)
        assert re.search(rf'role="alert">{shown}', response.text), (fields, response.text)
    overdraw = {"csrf": csrf, "form_key": form_key, "points": "-10", "reason": "fix"}
    refused = await api.client.post(path, data=overdraw)
    assert 400 <= refused.status_code < 500
    assert "Отказ" in refused.text
    assert (await api.balance(customer_id))["available"] == 0


async def test_blocking_a_card_from_the_console(api: Api) -> None:
    created = await api.post("/v1/customers", {"phone": "+79120000002", "card_number": "7001"})
    customer_id = created.json()["id"]
    await signed_in(api)
    page, csrf, _ = await card_page(api, customer_id)
    form_key = re.findall(
        r'name="form_key" value="([^"]+)">\s*<input type="hidden" '
        r'name="number" value="7001"',
        page,
    )[0]
    form = {"csrf": csrf, "form_key": form_key, "number": "7001", "reason": "lost"}
    other = await api.client.post(
        f"/console/customers/{customer_id}/cards/block", data={**form, "number": "9999"}
    )
    assert other.status_code == 422
    done = await api.client.post(f"/console/customers/{customer_id}/cards/block", data=form)
    assert done.status_code == 303
    journal = await api.client.get(
        "/v1/cards/7001", headers={"Authorization": f"Bearer {await program_admin_key(api)}"}
    )
    assert journal.json()["status"] == "blocked", journal.text
    page, _, _ = await card_page(api, customer_id)
    assert "status-blocked" in page


async def test_a_revoked_key_ends_its_session_and_sign_out_forgets_it(api: Api) -> None:
    key = await signed_in(api)
    assert (await api.client.get("/console")).status_code == 200
    stored = storage_key(api.client.cookies["bonus_console"])
    assert await api.runtime.redis.exists(stored)
    key_id = (await api.runtime.admin.authenticate(key)).key_id  # type: ignore[union-attr]
    revoked = await api.client.delete(f"/v1/api-keys/{key_id}", headers=api.headers(api.admin_key))
    assert revoked.status_code == 200, revoked.text
    gone = await api.client.get("/console")
    assert gone.status_code == 303
    assert gone.headers["location"] == "/console/sign-in?gone=1"
    assert not await api.runtime.redis.exists(stored)
    await signed_in(api)
    stored = storage_key(api.client.cookies["bonus_console"])
    page = await api.client.get("/console")
    csrf = _csrf.findall(page.text)[0]
    assert (await api.client.post("/console/sign-out", data={})).status_code == 403
    out = await api.client.post("/console/sign-out", data={"csrf": csrf})
    assert out.status_code == 303
    assert not await api.runtime.redis.exists(stored)


async def test_a_post_from_another_site_is_refused(api: Api) -> None:
    response = await api.client.post(
        "/console/sign-in", data={"key": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403


async def test_the_locale_switch_is_kept_in_the_session(api: Api) -> None:
    await signed_in(api)
    assert "Поиск клиента" in (await api.client.get("/console")).text
    assert "Find a customer" in (await api.client.get("/console", params={"lang": "en"})).text
    assert "Find a customer" in (await api.client.get("/console")).text


def test_both_catalogues_name_the_same_strings() -> None:
    assert russian.keys() == english.keys()
    assert all(value.strip() for value in (*russian.values(), *english.values()))
